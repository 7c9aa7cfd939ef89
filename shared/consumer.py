"""EventConsumer: a durable pull consumer that applies each event once.

For every message: parse and check the envelope; in one database transaction claim the inbox row
and run the handler; ack after commit. A poison message (bad envelope, unknown type, data that
does not validate, a site that disagrees with the subject) is dead-lettered at once; a transient
failure is nak'ed with exponential backoff and dead-lettered after ``max_deliver`` deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import nats.errors
import structlog
from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind

from shared.bus import Bus
from shared.events.base import Envelope, PoisonMessage, parse_envelope
from shared.logging import get_logger
from shared.outbox import claim_inbox
from shared.tracing import extract_context, tracer

log = get_logger("consumer")
_tracer = tracer("hallnet.consumer")

EventHandler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


def backoff_s(num_delivered: int, base: float = 0.5, cap: float = 30.0) -> float:
    return min(cap, base * 2 ** max(0, num_delivered - 1))


class EventConsumer:
    def __init__(
        self,
        *,
        bus: Bus,
        pool: asyncpg.Pool,
        site: str,
        stream: str,
        durable: str,
        subjects: list[str],
        handler: EventHandler,
        max_deliver: int = 5,
        batch: int = 100,
    ) -> None:
        self.bus = bus
        self.pool = pool
        self.site = site
        self.stream = stream
        self.durable = durable
        self.subjects = subjects
        self.handler = handler
        self.max_deliver = max_deliver
        self.batch = batch
        self.applied = 0
        self.dead_lettered = 0

    async def run(self) -> None:
        sub = None
        while sub is None:
            try:
                sub = await self.bus.pull_subscription(
                    stream=self.stream, durable=self.durable, filter_subjects=self.subjects
                )
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.warning("consumer_subscribe_failed", consumer=self.durable, error=repr(exc))
                await asyncio.sleep(1.0)
        try:
            await self._loop(sub)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _loop(self, sub: Any) -> None:
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except nats.errors.Error as exc:
                log.warning("consumer_fetch_failed", consumer=self.durable, error=repr(exc))
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self.process(msg)

    async def process(self, msg: Msg) -> None:
        ctx = extract_context(msg.headers)
        num = msg.metadata.num_delivered if msg.metadata else 1
        with _tracer.start_as_current_span(
            f"consume {msg.subject}", context=ctx, kind=SpanKind.CONSUMER
        ) as span:
            if num > self.max_deliver:
                await self._dead_letter(msg, f"delivered {num} times (limit {self.max_deliver})")
                return
            try:
                env = parse_envelope(msg.data, msg.subject)
                span.set_attribute("hallnet.event_id", str(env.id))
                structlog.contextvars.bind_contextvars(event_id=str(env.id))
                env.typed()  # validate data against the contract model before any effect
                async with self.pool.acquire() as conn, conn.transaction():
                    if await claim_inbox(conn, self.durable, env.id):
                        await self.handler(conn, env)
                        applied = True
                    else:
                        applied = False
                await msg.ack()
                if applied:
                    self.applied += 1
                log.debug("event_consumed", consumer=self.durable, event_id=str(env.id), type=env.type,
                          duplicate=not applied)
            except PoisonMessage as exc:
                await self._dead_letter(msg, str(exc))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # transient or a bug: retry with backoff, then dead-letter
                if num >= self.max_deliver:
                    await self._dead_letter(msg, f"{type(exc).__name__}: {exc}")
                else:
                    delay = backoff_s(num)
                    log.warning("event_retry", consumer=self.durable, subject=msg.subject,
                                num_delivered=num, retry_in_s=delay, error=repr(exc))
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=delay)
            finally:
                structlog.contextvars.unbind_contextvars("event_id")

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        """Keep the message in the dead_letters table and the site's dead-letter stream, then term it."""
        meta = msg.metadata
        headers = dict(msg.headers or {})
        num = meta.num_delivered if meta else 0
        seq = meta.sequence.stream if meta else None
        async with self.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO dead_letters (consumer, subject, stream_seq, num_delivered, error, payload, headers)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                self.durable, msg.subject, seq, num, error[:2000], msg.data, headers,
            )
        with contextlib.suppress(Exception):
            dl_headers = {**{k: v for k, v in headers.items() if k != "Nats-Msg-Id"},
                          "Hallnet-Error": error[:500].replace("\n", " "),
                          "Hallnet-Original-Subject": msg.subject}
            await self.bus.js.publish(
                f"deadletter.{self.site}.{self.durable}", msg.data, headers=dl_headers
            )
        with contextlib.suppress(Exception):
            await msg.term()
        self.dead_lettered += 1
        log.error("event_dead_lettered", consumer=self.durable, subject=msg.subject, stream_seq=seq,
                  num_delivered=num, error=error[:300])


def _payload(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:500].decode("utf-8", "replace")


def dead_letter_summary(rows: list[asyncpg.Record]) -> list[dict[str, object]]:
    """Dead letters as JSON for an API (events carry no personal data, so the payload may be shown)."""
    return [
        {
            "id": r["id"], "consumer": r["consumer"], "subject": r["subject"], "stream_seq": r["stream_seq"],
            "num_delivered": r["num_delivered"], "error": r["error"], "created_at": r["created_at"].isoformat(),
            "payload": _payload(bytes(r["payload"])),
        }
        for r in rows
    ]
