"""EventConsumer: a durable pull consumer that applies each event once.

Handlers are declared as a map from event type to function; the subjects are derived from the types. For every
message: classify it (shared/deadletter.py: envelope, subject, type, version with upcasts, data); in one database
transaction claim the inbox row and run the type's handler; ack after commit. A poison message is dead-lettered
at once; a transient failure is nak'ed with exponential backoff and dead-lettered after ``max_deliver``
deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
import nats.errors
import structlog
from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind

from shared import deadletter
from shared.bus import Bus
from shared.events.base import Envelope, EventData, subject_for
from shared.logging import get_logger
from shared.outbox import claim_inbox
from shared.tracing import extract_context, tracer

log = get_logger("consumer")
_tracer = tracer("hallnet.consumer")

# (connection of the event's transaction, the envelope, its typed data)
Handler = Callable[[asyncpg.Connection, Envelope, Any], Awaitable[None]]
Handlers = Mapping[type[EventData], Handler]


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
        handlers: Handlers,
        subjects: list[str] | None = None,
        max_deliver: int = 5,
        batch: int = 100,
    ) -> None:
        self.bus = bus
        self.pool = pool
        self.site = site
        self.stream = stream
        self.durable = durable
        self.handlers: dict[str, Handler] = {t.TYPE: h for t, h in handlers.items()}
        # the handlers' subjects; a wider filter (tests) only delivers more types, which are acked unapplied
        self.subjects = subjects or [subject_for(site, t) for t in self.handlers]
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
        raw = deadletter.RawEvent.of(msg)
        num = raw.num_delivered
        with _tracer.start_as_current_span(
            f"consume {msg.subject}", context=extract_context(msg.headers), kind=SpanKind.CONSUMER
        ) as span:
            if num > self.max_deliver:
                await self._dead_letter(msg, deadletter.DeadLetter(
                    raw, f"delivered {num} times (limit {self.max_deliver})", "redelivered"))
                return
            got = deadletter.classify(raw)
            if isinstance(got, deadletter.DeadLetter):
                await self._dead_letter(msg, got)
                return
            env, data = got
            span.set_attribute("hallnet.event_id", str(env.id))
            structlog.contextvars.bind_contextvars(event_id=str(env.id))
            try:
                handler = self.handlers.get(env.type)
                applied = False
                if handler is not None:
                    async with self.pool.acquire() as conn, conn.transaction():
                        if await claim_inbox(conn, self.durable, env.id):
                            await handler(conn, env, data)
                            applied = True
                await msg.ack()
                if applied:
                    self.applied += 1
                log.debug("event_consumed", consumer=self.durable, event_id=str(env.id), type=env.type,
                          applied=applied)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - transient or a bug: retried with backoff, then dead-lettered
                if num >= self.max_deliver:
                    await self._dead_letter(msg, deadletter.DeadLetter(raw, f"{type(exc).__name__}: {exc}"))
                else:
                    delay = backoff_s(num)
                    log.warning("event_retry", consumer=self.durable, subject=msg.subject,
                                num_delivered=num, retry_in_s=delay, error=repr(exc))
                    with contextlib.suppress(Exception):
                        await msg.nak(delay=delay)
            finally:
                structlog.contextvars.unbind_contextvars("event_id")

    async def _dead_letter(self, msg: Msg, dead: deadletter.DeadLetter) -> None:
        """Keep the message in the dead_letters table and the site's dead-letter stream, then term it."""
        async with self.pool.acquire() as conn:
            await deadletter.store(conn, self.durable, [dead])
        await deadletter.publish(self.bus.js, f"deadletter.{self.site}.{self.durable}", self.durable, [dead])
        with contextlib.suppress(Exception):
            await msg.term()
        self.dead_lettered += 1
