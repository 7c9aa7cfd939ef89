"""One poison policy (shared/deadletter.py): how every consumer and central's ingest classify a message, and
how an event of an older version still applies after its type got a new version (upcasting); and the
other side of "never fail silently": a background loop that keeps failing shows on health."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, ClassVar

import pytest

from shared import deadletter
from shared.events.base import (
    BAD_ENVELOPE,
    INVALID_DATA,
    SUBJECT_MISMATCH,
    UNKNOWN_TYPE,
    UNKNOWN_VERSION,
    EventData,
    Upcast,
    make_event,
)
from shared.events.queue import TicketCancelled


def _seconds_from_minutes(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "waited_s": int(data.pop("waited_min")) * 60}


class PauseNoted(EventData):
    """A made-up event type for these tests: version 1 said ``waited_min``, version 2 says ``waited_s``."""

    TYPE: ClassVar[str] = "test.pause.noted"
    VERSION: ClassVar[int] = 2
    UPCASTS: ClassVar[dict[int, Upcast]] = {1: _seconds_from_minutes}
    window_no: int
    waited_s: int


def _raw(site: str, type_: str, version: int, data: dict[str, Any], subject: str | None = None) -> deadletter.RawEvent:
    body = {"id": str(uuid.uuid4()), "type": type_, "version": version, "site": site,
            "occurred_at": "2026-12-02T09:00:00+08:00", "data": data}
    return deadletter.RawEvent(subject or f"hall.{site}.{type_}", json.dumps(body).encode(), stream_seq=7)


def test_a_version_1_event_still_applies_after_version_2_is_introduced() -> None:
    """An event written by a site still on version 1 is upcast and read as version 2 (nothing is lost)."""
    got = deadletter.classify(_raw("zhuzhou", PauseNoted.TYPE, 1, {"window_no": 3, "waited_min": 4}))
    assert not isinstance(got, deadletter.DeadLetter)
    assert got[1] == PauseNoted(window_no=3, waited_s=240)


def test_the_current_version_is_read_as_it_is() -> None:
    """An event of the version this code writes needs no upcast."""
    got = deadletter.classify(_raw("zhuzhou", PauseNoted.TYPE, 2, {"window_no": 3, "waited_s": 5}))
    assert not isinstance(got, deadletter.DeadLetter) and got[1] == PauseNoted(window_no=3, waited_s=5)


@pytest.mark.parametrize(("raw", "kind"), [
    (deadletter.RawEvent("hall.zhuzhou.queue.ticket.cancelled", b"not json"), BAD_ENVELOPE),
    (_raw("zhuzhou", "queue.ticket.cancelled", 1, {"ticket_id": str(uuid.uuid4()), "reason": "x"},
          subject="hall.hengnan.queue.ticket.cancelled"), SUBJECT_MISMATCH),
    (_raw("zhuzhou", "queue.ticket.teleported", 1, {}), UNKNOWN_TYPE),
    (_raw("zhuzhou", PauseNoted.TYPE, 3, {"window_no": 3, "waited_s": 5}), UNKNOWN_VERSION),
    (_raw("zhuzhou", "queue.ticket.cancelled", 2, {"ticket_id": str(uuid.uuid4()), "reason": "x"}), UNKNOWN_VERSION),
    (_raw("zhuzhou", "queue.ticket.cancelled", 1, {"ticket_id": "zz", "reason": "x"}), INVALID_DATA),
])
def test_each_kind_of_poison_is_a_dead_letter_with_its_reason(raw: deadletter.RawEvent, kind: str) -> None:
    """Garbage, a subject that disagrees, an unknown type, a version this code cannot read and invalid data are
    each a dead letter of their kind, never applied and never dropped."""
    got = deadletter.classify(raw)
    assert isinstance(got, deadletter.DeadLetter) and got.kind == kind and got.reason and got.raw is raw


def test_a_good_event_is_classified_as_its_typed_data() -> None:
    """A well-formed event of a known type comes back with its envelope and its typed data."""
    env = make_event("zhuzhou", TicketCancelled(ticket_id=uuid.uuid4(), reason="day_closed"))
    got = deadletter.classify(deadletter.RawEvent(env.subject, env.to_bytes()))
    assert not isinstance(got, deadletter.DeadLetter)
    assert got[0].id == env.id and isinstance(got[1], TicketCancelled) and got[1].reason == "day_closed"


async def test_a_background_loop_that_keeps_failing_turns_health_degraded() -> None:
    """A supervised task that crashes is restarted and reported: health says degraded and names the problem."""
    from shared.runtime import Runtime
    from shared.settings import Settings

    runtime = Runtime(Settings(service="queue", site="zz", site_name="t", token_secret="x"), [])
    crashed = asyncio.Event()

    async def broken() -> None:
        crashed.set()
        raise OverflowError("date value out of range")

    runtime.spawn("alert_evaluator", broken)
    try:
        async with asyncio.timeout(5):
            await crashed.wait()
            while not runtime.problems():
                await asyncio.sleep(0.01)
    finally:
        await runtime.stop()
    assert runtime.problems() == {"alert_evaluator": "OverflowError: date value out of range"}
