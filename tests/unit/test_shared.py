"""The shared runtime's pure parts: clerk tokens, the envelope, log scrubbing, ids, settings."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import structlog

from shared.auth import ClerkClaims, InvalidToken, hash_password, issue_token, verify_password, verify_token
from shared.events.base import PoisonMessage, make_event, parse_envelope
from shared.events.queue import TicketCancelled
from shared.ids import uuid7
from shared.logging import configure_logging, scrub_text
from shared.settings import Settings, site_stream_name


def _claims(**kw: object) -> ClerkClaims:
    base: dict[str, object] = {"site": "zhuzhou", "staff_id": "zz0101", "window_no": 3, "session_id": uuid.uuid4(),
                               "expires_at": int(time.time()) + 60}
    base.update(kw)
    return ClerkClaims(**base)  # type: ignore[arg-type]


def test_clerk_token_round_trips_and_names_its_window() -> None:
    """A token issued at sign-in verifies with the site's secret and carries the window it is bound to."""
    claims = _claims()
    got = verify_token("secret", issue_token("secret", claims), site="zhuzhou")
    assert got == claims and got.window_no == 3


@pytest.mark.parametrize("case", ["other_secret", "other_site", "expired", "tampered", "garbage"])
def test_forged_expired_or_foreign_tokens_are_refused(case: str) -> None:
    """Tokens signed elsewhere, for another site, expired, edited or malformed never verify."""
    token = issue_token("secret", _claims(expires_at=int(time.time()) - 1 if case == "expired" else
                                          int(time.time()) + 60))
    secret, site = "secret", "zhuzhou"
    if case == "other_secret":
        secret = "other"
    elif case == "other_site":
        site = "hengnan"
    elif case == "tampered":
        body, sig = token.split(".")
        token = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    elif case == "garbage":
        token = "not-a-token"
    with pytest.raises(InvalidToken):
        verify_token(secret, token, site=site)


def test_passwords_are_salted_hashes() -> None:
    """A staff password is stored as a salted scrypt hash: the right password verifies, others do not."""
    h1, h2 = hash_password("zz0101pw"), hash_password("zz0101pw")
    assert h1 != h2 and "zz0101pw" not in h1
    assert verify_password("zz0101pw", h1) and not verify_password("wrong", h1)
    assert not verify_password("zz0101pw", "garbage")


def test_envelope_follows_the_contract() -> None:
    """An event serialises to the contract's envelope, its subject is derived from site and type."""
    env = make_event("zhuzhou", TicketCancelled(ticket_id=uuid.uuid4(), reason="day_closed"))
    body = json.loads(env.to_bytes())
    assert set(body) == {"id", "type", "version", "site", "occurred_at", "data"}
    assert body["occurred_at"].endswith("+08:00")
    assert env.subject == "hall.zhuzhou.queue.ticket.cancelled" and env.msg_id == f"zhuzhou:{env.id}"
    assert parse_envelope(env.to_bytes(), env.subject).typed() == TicketCancelled.model_validate(body["data"])


def test_an_envelope_claiming_another_site_is_poison() -> None:
    """An event whose envelope site disagrees with its subject is refused as poison (never applied)."""
    env = make_event("hengnan", TicketCancelled(ticket_id=uuid.uuid4(), reason="x"))
    with pytest.raises(PoisonMessage, match="does not match"):
        parse_envelope(env.to_bytes(), "hall.zhuzhou.queue.ticket.cancelled")


def test_unknown_fields_are_ignored_but_missing_ones_are_poison() -> None:
    """Consumers ignore fields they do not know (the contract's rule) but refuse data missing required ones."""
    env = make_event("zhuzhou", TicketCancelled(ticket_id=uuid.uuid4(), reason="x"))
    body = json.loads(env.to_bytes())
    body["data"]["new_optional_field"] = 1
    body["extra_top"] = True
    assert parse_envelope(json.dumps(body).encode(), env.subject).typed()
    del body["data"]["reason"]
    with pytest.raises(PoisonMessage):
        parse_envelope(json.dumps(body).encode(), env.subject).typed()


def test_scrubbing_masks_phone_and_id_numbers() -> None:
    """Phone and resident ID numbers that slip into a log line are masked; ticket numbers and ids are not."""
    text = scrub_text("call 13812345678 about 430281199001011234, ticket A015, window 3, 2026-11-21")
    assert "13812345678" not in text and "138****5678" in text
    assert "430281199001011234" not in text and "4302**********1234" in text
    assert "A015" in text and "2026-11-21" in text


def test_log_lines_are_json_with_site_and_no_phone(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a terminal a log line is one JSON object with the site bound and any phone number masked."""
    configure_logging("zhuzhou", "queue", "json", "info")
    structlog.get_logger("t").info("sms_queued", phone="13812345678")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["site"] == "zhuzhou" and record["event"] == "sms_queued"
    assert "13812345678" not in line
    configure_logging("test", "tests", "json", "warning")


def test_uuid7_is_time_ordered_and_version_7() -> None:
    """Ids made later sort later (time-ordered v7), as the contract prefers."""
    ids = [uuid7() for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids)


def test_bad_site_id_is_refused_and_stream_names_carry_the_site() -> None:
    """A site id outside [a-z][a-z0-9-]{1,31} is refused; stream names let sites share a server."""
    with pytest.raises(ValueError, match="site id"):
        Settings(site="Zhu Zhou")
    assert site_stream_name("bao-gai") == "HALL_BAO_GAI"
