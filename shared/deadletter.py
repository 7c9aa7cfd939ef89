"""One poison policy for every consumer and for central's ingest.

``classify`` reads a message off a stream: its envelope and typed data (upcast from an older version), or a
``DeadLetter`` saying why it can never be applied (shared/events/base.py: bad envelope, subject mismatch,
unknown type, unknown version, invalid data). ``store`` keeps dead letters in the ``dead_letters`` table (in the
caller's transaction; a message dead-lettered again after a redelivery is kept once), ``publish`` copies them to
``deadletter.<site>.<consumer>`` and ``router`` shows them to operations. Nothing is dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from nats.aio.msg import Msg

from shared.events.base import Envelope, EventData, PoisonMessage, parse_envelope
from shared.logging import get_logger

log = get_logger("deadletter")


@dataclass(frozen=True)
class RawEvent:
    """One message as it came from a stream."""

    subject: str
    data: bytes
    stream_seq: int | None = None
    num_delivered: int = 1
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, msg: Msg) -> RawEvent:
        meta = msg.metadata if msg.reply else None
        return cls(msg.subject, msg.data, meta.sequence.stream if meta else None,
                   meta.num_delivered if meta else 1, dict(msg.headers or {}))


@dataclass(frozen=True)
class DeadLetter:
    raw: RawEvent
    reason: str
    kind: str = "error"  # a PoisonMessage kind, "redelivered" or "error" (failed on every delivery)


def classify(raw: RawEvent) -> tuple[Envelope, EventData] | DeadLetter:
    """The event and its typed data, or the dead letter it is."""
    try:
        env = parse_envelope(raw.data, raw.subject)
        return env, env.typed()
    except PoisonMessage as exc:
        return DeadLetter(raw, str(exc), exc.kind)


async def store(conn: asyncpg.Connection, consumer: str, dead: Sequence[DeadLetter]) -> int:
    """Keep ``dead`` in ``dead_letters`` (one statement); returns how many were new (a redelivered message that
    was already dead-lettered under its stream sequence is not kept twice)."""
    if not dead:
        return 0
    rows = await conn.fetch(
        """INSERT INTO dead_letters (consumer, subject, stream_seq, num_delivered, error, payload, headers)
           SELECT $1, s, q, n, e, p, h::jsonb
           FROM unnest($2::text[], $3::bigint[], $4::int[], $5::text[], $6::bytea[], $7::text[]) AS x(s, q, n, e, p, h)
           WHERE x.q IS NULL OR NOT EXISTS (
               SELECT 1 FROM dead_letters dl WHERE dl.consumer = $1 AND dl.stream_seq = x.q)
           RETURNING id""",
        consumer, [x.raw.subject for x in dead], [x.raw.stream_seq for x in dead],
        [x.raw.num_delivered for x in dead], [f"{x.kind}: {x.reason}"[:2000] for x in dead],
        [x.raw.data for x in dead], [json.dumps(x.raw.headers) for x in dead])
    for x in dead:
        log.error("event_dead_lettered", consumer=consumer, subject=x.raw.subject, stream_seq=x.raw.stream_seq,
                  num_delivered=x.raw.num_delivered, kind=x.kind, error=x.reason[:300])
    return len(rows)


async def publish(js: Any, subject: str, consumer: str, dead: Sequence[DeadLetter]) -> None:
    """Copy dead letters to the dead-letter stream (best effort: the table row is the record that counts).
    ``Nats-Msg-Id`` is the consumer and stream sequence, so a message dead-lettered twice is stored once."""
    for x in dead:
        headers = {**{k: v for k, v in x.raw.headers.items() if k != "Nats-Msg-Id"},
                   "Hallnet-Error": f"{x.kind}: {x.reason}"[:500].replace("\n", " "),
                   "Hallnet-Original-Subject": x.raw.subject}
        if x.raw.stream_seq is not None:
            headers["Nats-Msg-Id"] = f"{consumer}:{x.raw.stream_seq}"
        try:
            await js.publish(subject, x.raw.data, headers=headers)
        except Exception as exc:  # noqa: BLE001 - the table row is kept already; the stream copy is a convenience
            log.warning("dead_letter_publish_failed", subject=subject, error=repr(exc))


def _payload(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:500].decode("utf-8", "replace")


def summary(rows: Sequence[asyncpg.Record]) -> list[dict[str, object]]:
    """Dead letters as JSON for an API (events carry no personal data, so the payload may be shown)."""
    return [
        {
            "id": r["id"], "consumer": r["consumer"], "subject": r["subject"], "stream_seq": r["stream_seq"],
            "num_delivered": r["num_delivered"], "error": r["error"], "created_at": r["created_at"].isoformat(),
            "payload": _payload(bytes(r["payload"])),
        }
        for r in rows
    ]


def router(prefix: str, operator: Callable[..., Awaitable[Any]]) -> APIRouter:
    """``GET <prefix>/dead-letters``: the latest messages this service refused, with the reason and the payload,
    for the site's operations (``operator``: a dependency that refuses anyone else, e.g. a duty manager)."""
    api = APIRouter(prefix=prefix, dependencies=[Depends(operator)])

    @api.get("/dead-letters")
    async def dead_letters(request: Request,
                           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, object]]:
        """Messages this service refused (poison, or failing on every delivery), newest first."""
        async with request.app.state.runtime.db.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM dead_letters ORDER BY id DESC LIMIT $1", limit)
        return summary(rows)

    return api
