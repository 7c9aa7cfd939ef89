"""Personal data stays in the matters service: cases driven with real-looking names, ID numbers and phones
(accepted, refused, suspended with a note, carded, completed) leave none of them in any event of the site
stream, in any log line (captured before the scrubber, at debug level), in any table in plain text, or
unmasked in any answer. And the sealing itself: bound to its row and field, readable after a key rotation."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.matters.crypto import BadKey, CannotDecrypt, DataBox, parse_key
from services.matters.deadlines import check_deadlines
from shared.settings import site_stream_name
from tests.harness import Servers
from tests.integration.matters_fixtures import APPLICANTS, PREFIX, start_matters

NOTE = "申请人王小明电话13900001111称需听证"  # free text a clerk types: sealed, never on the bus or in logs
TYPO_ID = "430102199001011234"  # an ID number typed with a wrong check digit: refused, never echoed


def _secrets() -> list[str]:
    values = [NOTE, TYPO_ID, "13900001111", "王小明"]
    for a in APPLICANTS:
        values += [a["name"], a["id_no"], a["phone"], a["id_no"][6:14]]  # the birth date part too
    return values


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (logging.Formatter().formatException(record.exc_info)
                                                 if record.exc_info else ""))


@contextlib.contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every structlog event (as the service passed it, before scrubbing) and stdlib record, at debug level."""
    lines: list[str] = []
    old = structlog.get_config()

    def capture(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
        lines.append(json.dumps(event_dict, ensure_ascii=False, default=str))
        raise structlog.DropEvent

    structlog.configure(processors=[structlog.contextvars.merge_contextvars, structlog.processors.format_exc_info,
                                    capture],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    root = logging.getLogger()
    handler, level = _Lines(lines), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.configure(**old)


async def _raw_stream(nats_url: str, site: str) -> list[str]:
    """Every message of the site stream, data and headers, as text."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(f"hall.{site}.>", durable=None, stream=site_stream_name(site),
                                                  config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        out: list[str] = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                return out
            out += [m.data.decode() + json.dumps(dict(m.headers or {}), ensure_ascii=False) for m in msgs]
    finally:
        await nc.close()


async def _tables_as_text(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        parts = []
        for table in ("cases", "case_log", "case_suspensions", "case_warnings", "contact_handover", "dead_letters"):
            parts += [r["t"] for r in await conn.fetch(f"SELECT t::text AS t FROM {table} t")]  # constant tables
        parts += [bytes(r["payload"]).decode() for r in await conn.fetch("SELECT payload FROM outbox")]
        return "\n".join(parts)
    finally:
        await conn.close()


async def test_no_personal_data_in_events_logs_tables_or_answers(servers: Servers, site: str, database_url: str,
                                                                 tmp_path: Path) -> None:
    """Names, ID numbers, phones and notes of three applicants appear in no event, log line, table or answer."""
    answers: list[str] = []
    with every_log_line() as lines:
        async with start_matters(servers, site, database_url, tmp_path) as env:
            async def call(method: str, path: str, body: Any = None, **kw: Any) -> Any:
                r = await env.client.request(method, PREFIX + path, json=body, headers=env.auth(), **kw)
                answers.append(r.text)
                return r.json() if r.headers["content-type"].startswith("application/json") else r.text

            a, b, c = APPLICANTS
            promised = (await env.accept("yl-txsq", applicant=a))["id"]
            await env.accept("yb-ydjy", applicant=b)  # 即办件
            refused = await env.accept("yl-txsq", applicant=c, provided=["id_card"], expect=422)
            answers.append(json.dumps(refused, ensure_ascii=False))
            await call("GET", f"/cases/{refused['id']}/notice")
            await call("GET", f"/cases/{refused['id']}/notice.json")
            suspended = (await env.accept("jy-knrd", applicant=c))["id"]
            await call("POST", f"/cases/{suspended}/suspend", {"reason_code": "hearing", "note": NOTE})
            for bad in ({**a, "id_no": TYPO_ID}, {**a, "phone": "1390000111"}, {**a, "name": "王小明2"}):
                r = await env.client.post(f"{PREFIX}/cases", headers=env.auth(),
                                          json={"matter_id": "yl-txsq", "applicant": bad, "provided": []})
                assert r.status_code == 422
                answers.append(r.text)
            await call("POST", "/cases", {"matter_id": "xx-none", "applicant": a, "provided": []})
            await call("POST", f"/cases/{promised}/steps", {"step": "review"})
            env.clock.set(2026, 3, 20, 10)
            assert await check_deadlines(env.app)  # a red card for the running case
            await call("POST", f"/cases/{suspended}/resume")
            await call("POST", f"/cases/{promised}/complete", {"result": "rejected"})
            for path in ("/cases", f"/cases/{promised}", f"/cases/{suspended}"):
                await call("GET", path)
            await env.events(expect=12)
    events = await _raw_stream(servers.nats_url, site)
    stored = await _tables_as_text(database_url)

    assert len(events) >= 12 and len(lines) > 10 and len(answers) > 10  # the scan has something to scan
    assert any("case_accepted" in x for x in lines) and any("http_request" in x for x in lines)
    for secret in _secrets():
        assert not [e for e in events if secret in e], f"{secret!r} in an event"
        assert not [x for x in lines if secret in x], f"{secret!r} in a log line"
        assert secret not in stored, f"{secret!r} stored in plain text"
        assert not [x for x in answers if secret in x], f"{secret!r} in an answer"
    masked = [a["name"][0] + "*" * (len(a["name"]) - 1) for a in APPLICANTS]
    assert "4301**********1238" in "".join(answers) and "张**" in "".join(answers)  # masked is what clerks see
    for m in masked:  # events carry ids only: not even the masked forms
        assert not [e for e in events if m in e]


def test_sealed_values_are_bound_to_their_row_and_field() -> None:
    """A sealed ID number does not open as another case's, or as the same case's phone, nor when altered."""
    box = DataBox(parse_key("a" * 64))
    sealed = box.seal(APPLICANTS[0]["id_no"], "case:1:id_no")
    assert APPLICANTS[0]["id_no"].encode() not in sealed
    assert box.open(sealed, "case:1:id_no") == APPLICANTS[0]["id_no"]
    assert box.seal(APPLICANTS[0]["id_no"], "case:1:id_no") != sealed  # a fresh nonce each time
    for context in ("case:2:id_no", "case:1:phone"):
        with pytest.raises(CannotDecrypt):
            box.open(sealed, context)
    with pytest.raises(CannotDecrypt):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "case:1:id_no")


def test_values_sealed_before_a_key_rotation_still_open() -> None:
    """After a key rotation old values still open with the old key kept; without it they do not."""
    old, new = parse_key("a" * 64), parse_key("b" * 64)
    sealed = DataBox(old).seal("张建国", "case:1:name")
    rotated = DataBox(new, [old])
    assert rotated.open(sealed, "case:1:name") == "张建国"
    assert rotated.seal("李秀英", "case:2:name")[1:5] != sealed[1:5]
    with pytest.raises(CannotDecrypt):
        DataBox(new).open(sealed, "case:1:name")


@pytest.mark.parametrize("key", ["too-short", "a" * 63, "", "zz" * 32])
def test_an_unusable_key_is_refused_without_echoing_it(key: str) -> None:
    """A key that is not 32 bytes of base64 or hex stops the service with a message that does not repeat it."""
    with pytest.raises(BadKey) as err:
        parse_key(key)
    assert not key or key not in str(err.value)
