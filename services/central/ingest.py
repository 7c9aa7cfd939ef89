"""Central's ingest: the ``CENTRAL`` stream into the projections, a batch at a time.

One batch (up to ``central_batch`` messages) is applied in ONE transaction: the event ids are claimed in the inbox
with one ``INSERT … SELECT unnest … ON CONFLICT DO NOTHING RETURNING``, only the newly claimed events are
aggregated in memory (counters per site and day/hour, histograms, latest windows and queues, complaints, cases,
alerts), and every aggregate is written with one set-based upsert. The batch is acknowledged after the commit
(an explicit ack per message, sent without waiting). A redelivered event is found in the inbox and never
counted twice; a crash before the commit loses nothing (the messages are redelivered).

An event whose envelope ``site`` differs from its subject's ``hall.<site>.`` segment, or which does not parse or
validate, is dead-lettered (``dead_letters`` row in the same transaction, then ``deadletter.central.<durable>``)
and never touches the figures. Events of types (or versions) central does not know are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.central.projections import WALL_CHANNEL, BatchProjection
from shared.bus import Bus
from shared.events.base import REGISTRY, Envelope, EventData, PoisonMessage, parse_envelope
from shared.logging import get_logger

log = get_logger("central.ingest")
TRANSIENT = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, asyncpg.DeadlockDetectedError,
             asyncpg.SerializationError, asyncpg.AdminShutdownError, asyncpg.QueryCanceledError)


@dataclass(frozen=True)
class RawEvent:
    """One message as it came from the stream."""

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


@dataclass
class BatchResult:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    sites: set[str] = field(default_factory=set)
    occurred_at: list[datetime] = field(default_factory=list)  # of the applied events (latency measurements)
    committed_at: float = 0.0  # time.time() of the commit
    dead: list[_Dead] = field(default_factory=list, repr=False)  # to publish on deadletter.central.<durable>


@dataclass
class _Dead:
    raw: RawEvent
    reason: str


def classify(raw: RawEvent) -> tuple[Envelope, EventData] | _Dead | None:
    """The event and its typed data; a dead letter (with the reason); or None for a type central ignores."""
    try:
        env = parse_envelope(raw.data)
    except PoisonMessage as exc:
        return _Dead(raw, str(exc))
    parts = raw.subject.split(".", 2)
    if len(parts) < 3 or parts[0] != "hall":
        return _Dead(raw, f"subject {raw.subject!r} is not hall.<site>.<type>")
    if parts[1] != env.site:
        return _Dead(raw, f"site mismatch: subject site {parts[1]!r}, envelope site {env.site!r}")
    if parts[2] != env.type:
        return _Dead(raw, f"type mismatch: subject {parts[2]!r}, envelope type {env.type!r}")
    model = REGISTRY.get(env.type)
    if model is None or env.version != model.VERSION:
        return None  # a type or version central does not know: ignored, as the contract asks
    try:
        return env, env.typed()
    except PoisonMessage as exc:
        return _Dead(raw, str(exc))


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
        # Explicit acks, one per message. Not AckPolicy.ALL: after a crash (or a fetch cut short by a reconnect) the
        # messages delivered to the dead fetch are redelivered only after ack_wait, and meanwhile an ack-all of a
        # later batch would acknowledge them unprocessed — lost events (tests/stack/test_federation_reliability.py).
        self.ack_all = False
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.batches = 0

    # --- NATS ------------------------------------------------------------------------------------------------------
    async def subscribe(self) -> Any:
        """The durable pull consumer on the stream (explicit acks, sent after the batch's commit)."""
        if self.bus is None:
            raise RuntimeError("no bus")
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
        await self._publish_dead(result)
        if self.on_batch is not None:
            await self.on_batch(result)
        return result

    async def _ack(self, msgs: list[Msg]) -> None:
        if not msgs:
            return
        with contextlib.suppress(nats.errors.Error):
            if self.ack_all:
                last = max(msgs, key=lambda m: m.metadata.sequence.stream if m.reply else 0)
                await last.ack()
            else:
                for m in msgs:
                    await m.ack()

    async def _publish_dead(self, result: BatchResult) -> None:
        if not result.dead or self.bus is None:
            return
        for item in result.dead:
            headers = {**{k: v for k, v in item.raw.headers.items() if k != "Nats-Msg-Id"},
                       "Hallnet-Error": item.reason[:500].replace("\n", " "),
                       "Hallnet-Original-Subject": item.raw.subject}
            if item.raw.stream_seq is not None:  # the same message dead-lettered twice is stored once
                headers["Nats-Msg-Id"] = f"central:{self.durable}:{item.raw.stream_seq}"
            with contextlib.suppress(Exception):
                await self.bus.js.publish(f"deadletter.central.{self.durable}", item.raw.data, headers=headers)

    # --- the database ------------------------------------------------------------------------------------------------
    async def apply(self, raws: list[RawEvent]) -> BatchResult:
        """Apply ``raws`` in one transaction (no ack). When the batch as a whole fails on bad data (an event the
        database refuses), each event is applied on its own and the refused ones are dead-lettered."""
        parsed: list[tuple[RawEvent, Envelope, EventData]] = []
        dead: list[_Dead] = []
        ignored = 0
        seen: set[Any] = set()
        for raw in raws:
            got = classify(raw)
            if got is None:
                ignored += 1
            elif isinstance(got, _Dead):
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
                    one = await self._apply_once([], [_Dead(item[0], f"refused by the database: "
                                                                     f"{type(err).__name__}")])
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

    async def _apply_once(self, parsed: list[tuple[RawEvent, Envelope, EventData]], dead: list[_Dead]
                          ) -> BatchResult:
        result = BatchResult()
        async with self.pool.acquire() as conn, conn.transaction():
            new: set[Any] = set()
            if parsed:
                rows = await conn.fetch(
                    """INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
                       ON CONFLICT DO NOTHING RETURNING event_id""", self.durable, [e.id for _, e, _ in parsed])
                new = {r["event_id"] for r in rows}
            agg = BatchProjection(self.tz, self.scales, self._bad_level())
            for _, env, data in parsed:
                if env.id in new:
                    agg.add(env, data)
                    result.occurred_at.append(env.occurred_at)
                    result.sites.add(env.site)
            changed = await agg.write(conn)
            if dead:
                stored = await conn.fetch(
                    """INSERT INTO dead_letters (consumer, subject, stream_seq, num_delivered, error, payload, headers)
                       SELECT $1, s, q, n, e, p, h::jsonb
                       FROM unnest($2::text[], $3::bigint[], $4::int[], $5::text[], $6::bytea[], $7::text[])
                            AS x(s, q, n, e, p, h)
                       WHERE x.q IS NULL OR NOT EXISTS (
                           SELECT 1 FROM dead_letters dl WHERE dl.consumer = $1 AND dl.stream_seq = x.q)
                       RETURNING id""",
                    self.durable, [x.raw.subject for x in dead], [x.raw.stream_seq for x in dead],
                    [x.raw.num_delivered for x in dead], [x.reason[:2000] for x in dead],
                    [x.raw.data for x in dead], [json.dumps(x.raw.headers) for x in dead])
                result.dead_lettered = len(dead)
                if not stored:
                    dead = []  # already kept (a redelivered batch): not published again
            if result.sites or changed:
                payload = json.dumps({"sites": sorted(result.sites)[:200], "alerts": changed[:200]})
                await conn.execute("SELECT pg_notify($1, $2)", WALL_CHANNEL, payload)
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
