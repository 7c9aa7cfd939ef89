"""Central's ingest: the ``CENTRAL`` stream into the projections, a batch at a time.

One batch (up to ``central_batch`` messages) is applied in ONE transaction: the event ids are claimed in the inbox
with one ``INSERT … SELECT unnest … ON CONFLICT DO NOTHING RETURNING``, only the newly claimed events are
aggregated in memory (``projections.BatchProjection``: counters per site and day/hour, histograms, latest windows
and queues, complaints, cases, the alerts events open or resolve), and every aggregate is written with one
set-based upsert (``projection_store``). The batch is acknowledged after the commit (an explicit ack per message,
sent without waiting). A redelivered event is found in the inbox and never counted twice; a crash before the
commit loses nothing (the messages are redelivered).

Every message is classified by the poison policy all consumers share (``shared.deadletter.classify``): a body that
is not an envelope, a subject that disagrees with the envelope's site or type (a site forging another's events), a
type or version central does not know (older versions are upcast first), or data that does not validate is
dead-lettered — a ``dead_letters`` row in the batch's transaction (``GET /central/api/v1/dead-letters``), then a
copy on ``deadletter.central.<durable>`` — and never touches the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import nats.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.central import projection_store
from services.central.projections import BatchProjection
from shared import deadletter
from shared.bus import Bus
from shared.deadletter import DeadLetter, RawEvent
from shared.events.base import Envelope, EventData
from shared.logging import get_logger

log = get_logger("central.ingest")
TRANSIENT = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, asyncpg.DeadlockDetectedError,
             asyncpg.SerializationError, asyncpg.AdminShutdownError, asyncpg.QueryCanceledError)


@dataclass
class BatchResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0  # the same event twice in one batch
    dead_lettered: int = 0
    sites: set[str] = field(default_factory=set)
    occurred_at: list[datetime] = field(default_factory=list)  # of the applied events (latency measurements)
    committed_at: float = 0.0  # time.time() of the commit
    dead: list[DeadLetter] = field(default_factory=list, repr=False)  # to publish on deadletter.central.<durable>


class Ingest:
    """Consumes the CENTRAL stream into the projections, one transaction per batch."""

    def __init__(self, pool: asyncpg.Pool, *, bus: Bus | None = None, stream: str = "CENTRAL",
                 durable: str = "central", batch: int = 1000, tz: ZoneInfo | None = None,
                 scales: dict[str, str] | None = None, bad_rating_level: Callable[[], int] | None = None,
                 fetch_timeout_s: float = 0.2, ack_wait_s: float = 60.0,
                 on_batch: Callable[[BatchResult], Awaitable[None]] | None = None) -> None:
        self.pool = pool
        self.bus = bus
        self.stream = stream
        self.durable = durable
        self.batch = batch
        self.tz = tz or ZoneInfo("Asia/Shanghai")
        self.scales = scales or {}
        self._bad_level = bad_rating_level or (lambda: 2)
        self.fetch_timeout_s = fetch_timeout_s
        self.ack_wait_s = ack_wait_s
        self.on_batch = on_batch
        self.dead_letter_subject = f"deadletter.central.{durable}"
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.batches = 0

    # --- NATS ------------------------------------------------------------------------------------------------------
    async def subscribe(self) -> Any:
        """The durable pull consumer on the stream (explicit acks, sent after the batch's commit)."""
        if self.bus is None:
            raise RuntimeError("no bus")
        # Explicit acks, one per message. Not AckPolicy.ALL: after a crash (or a fetch cut short by a reconnect) the
        # messages delivered to the dead fetch are redelivered only after ack_wait, and meanwhile an ack-all of a
        # later batch would acknowledge them unprocessed — lost events (tests/stack/test_federation_reliability.py).
        config = ConsumerConfig(durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.ALL, ack_wait=self.ack_wait_s, max_deliver=-1,
                                max_ack_pending=max(20_000, 4 * self.batch))
        await self.bus.js.add_consumer(self.stream, config)
        return await self.bus.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)

    async def run(self) -> None:
        sub = None
        while sub is None:
            try:
                sub = await self.subscribe()
            except (nats.errors.Error, TimeoutError, OSError) as exc:
                log.warning("central_subscribe_failed", stream=self.stream, consumer=self.durable, error=repr(exc))
                await asyncio.sleep(1.0)
        try:
            while True:
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout_s)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue
                except nats.errors.Error as exc:
                    log.warning("central_fetch_failed", consumer=self.durable, error=repr(exc))
                    await asyncio.sleep(0.5)
                    continue
                if msgs:
                    await self.process_batch(msgs)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def process_batch(self, msgs: list[Msg]) -> BatchResult:
        """Apply one fetched batch (retrying while the database is away, never skipping ahead), then ack it."""
        raws = [RawEvent.of(m) for m in msgs]
        delay = 0.2
        while True:
            try:
                result = await self.apply(raws)
                break
            except TRANSIENT as exc:
                log.warning("central_batch_retry", size=len(raws), retry_in_s=delay, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self._ack(msgs)
        if result.dead and self.bus is not None:
            await deadletter.publish(self.bus.js, self.dead_letter_subject, self.durable, result.dead)
        if self.on_batch is not None:
            await self.on_batch(result)
        return result

    async def _ack(self, msgs: list[Msg]) -> None:
        """An explicit ack per message, after the commit (fire-and-forget publishes)."""
        with contextlib.suppress(nats.errors.Error):
            for m in msgs:
                await m.ack()

    # --- the database ------------------------------------------------------------------------------------------------
    async def apply(self, raws: list[RawEvent]) -> BatchResult:
        """Apply ``raws`` in one transaction (no ack). When the batch as a whole fails on bad data (an event the
        database refuses), each event is applied on its own and the refused ones are dead-lettered."""
        parsed: list[tuple[RawEvent, Envelope, EventData]] = []
        dead: list[DeadLetter] = []
        ignored = 0
        seen: set[Any] = set()
        for raw in raws:
            got = deadletter.classify(raw)
            if isinstance(got, DeadLetter):
                dead.append(got)
            elif got[0].id in seen:
                ignored += 1  # the same event twice in one batch
            else:
                seen.add(got[0].id)
                parsed.append((raw, got[0], got[1]))
        try:
            result = await self._apply_once(parsed, dead)
        except TRANSIENT:
            raise
        except asyncpg.PostgresError as exc:
            log.warning("central_batch_refused", size=len(parsed), error=type(exc).__name__)
            result = BatchResult()
            for item in parsed:
                try:
                    one = await self._apply_once([item], [])
                except TRANSIENT:
                    raise
                except asyncpg.PostgresError as err:
                    refused = DeadLetter(item[0], f"refused by the database: {type(err).__name__}")
                    one = await self._apply_once([], [refused])
                _merge(result, one)
            if dead:
                _merge(result, await self._apply_once([], dead))
        result.received = len(raws)
        result.ignored += ignored
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered
        self.batches += 1
        if result.dead_lettered:
            log.error("events_dead_lettered", consumer=self.durable, count=result.dead_lettered)
        return result

    async def _apply_once(self, parsed: list[tuple[RawEvent, Envelope, EventData]], dead: list[DeadLetter]
                          ) -> BatchResult:
        result = BatchResult()
        async with self.pool.acquire() as conn, conn.transaction():
            new = await projection_store.claim(conn, self.durable, [env.id for _, env, _ in parsed])
            agg = BatchProjection(self.tz, self.scales, self._bad_level())
            for _, env, data in parsed:
                if env.id in new:
                    agg.add(env, data)
                    result.occurred_at.append(env.occurred_at)
                    result.sites.add(env.site)
            changed = await projection_store.write(conn, agg)
            if dead:
                result.dead_lettered = len(dead)
                if not await deadletter.store(conn, self.durable, dead):
                    dead = []  # already kept (a redelivered batch): not published again
            if result.sites or changed:
                await projection_store.notify_wall(conn, result.sites, changed)
        result.committed_at = time.time()
        result.applied = len(result.occurred_at)
        result.duplicates = len(parsed) - result.applied
        result.dead = dead
        return result


def _merge(into: BatchResult, one: BatchResult) -> None:
    into.applied += one.applied
    into.duplicates += one.duplicates
    into.dead_lettered += one.dead_lettered
    into.sites |= one.sites
    into.occurred_at += one.occurred_at
    into.committed_at = max(into.committed_at, one.committed_at)
    into.dead += one.dead
