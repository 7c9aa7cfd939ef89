"""EventConsumer against real NATS and PostgreSQL: apply once, retry transient failures, dead-letter poison."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from shared.bus import Bus
from shared.consumer import EventConsumer
from shared.db import create_pool, migrate
from shared.events.base import Envelope, make_event
from shared.events.queue import TicketCancelled
from shared.settings import dead_letter_stream_name, site_stream_name
from tests.harness import Servers


@dataclass
class Rig:
    pool: asyncpg.Pool
    bus: Bus
    site: str
    failures: dict[str, int]

    def consumer(self, **kw: Any) -> EventConsumer:
        async def handler(conn: asyncpg.Connection, env: Envelope, data: TicketCancelled) -> None:
            reason = env.data.get("reason", "")
            if reason.startswith("flaky") and self.failures.get(str(env.id), 0) < int(reason[5:] or 0):
                self.failures[str(env.id)] = self.failures.get(str(env.id), 0) + 1
                raise ConnectionError("downstream hiccup")
            await conn.execute("INSERT INTO applied (event_id) VALUES ($1)", env.id)

        defaults: dict[str, Any] = {"max_deliver": 3}
        defaults.update(kw)
        return EventConsumer(bus=self.bus, pool=self.pool, site=self.site, stream=site_stream_name(self.site),
                             durable="test-consumer", subjects=[f"hall.{self.site}.queue.>"],
                             handlers={TicketCancelled: handler},
                             **defaults)

    async def publish(self, reason: str = "ok") -> Envelope:
        env = make_event(self.site, TicketCancelled(ticket_id=uuid.uuid4(), reason=reason))
        await self.bus.publish(env)
        return env

    async def applied(self) -> list[uuid.UUID]:
        return [r["event_id"] for r in await self.pool.fetch("SELECT event_id FROM applied ORDER BY id")]


@pytest.fixture
async def rig(servers: Servers, database_url: str, site: str) -> AsyncIterator[Rig]:
    pool = await create_pool(database_url)
    await migrate(pool, "shared.migrations")
    await pool.execute("CREATE TABLE applied (id bigserial PRIMARY KEY, event_id uuid NOT NULL)")
    bus = Bus(servers.nats_url, name="test")
    await bus.connect()
    await bus.ensure_site_streams(site)
    yield Rig(pool=pool, bus=bus, site=site, failures={})
    await bus.close()
    await pool.close()


async def _run_until(consumer: EventConsumer, cond: Any, timeout_s: float = 15.0) -> None:
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not await cond():
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_redelivered_event_is_applied_once(rig: Rig) -> None:
    """The same event delivered twice (a publisher retry with a new msg id, or a lost ack) changes state once."""
    env = await rig.publish()
    dup = Envelope.model_validate_json(env.to_bytes())
    await rig.bus.js.publish(dup.subject, dup.to_bytes(), headers={"Nats-Msg-Id": dup.msg_id + ":retry"})
    second = await rig.publish()
    consumer = rig.consumer()

    async def done() -> bool:
        return consumer.applied + consumer.dead_lettered >= 2 and len(await rig.applied()) >= 2

    await _run_until(consumer, done)
    await asyncio.sleep(0.3)
    assert await rig.applied() == [env.id, second.id]


async def test_poison_messages_are_dead_lettered_and_the_consumer_goes_on(rig: Rig) -> None:
    """Garbage, an unknown type, a site that disagrees with its subject and invalid data are dead-lettered at
    once (not retried), and the good event behind them is applied."""
    js = rig.bus.js
    s = rig.site
    await js.publish(f"hall.{s}.queue.ticket.cancelled", b"not json at all")
    other = make_event("othersite", TicketCancelled(ticket_id=uuid.uuid4(), reason="x"))
    await js.publish(f"hall.{s}.queue.ticket.cancelled", other.to_bytes())  # claims another site
    bad = make_event(s, TicketCancelled(ticket_id=uuid.uuid4(), reason="x"))
    raw = bad.to_bytes().replace(b'"ticket_id":"', b'"ticket_id":"zz')
    await js.publish(f"hall.{s}.queue.ticket.cancelled", raw)  # data does not validate
    unknown = make_event(s, TicketCancelled(ticket_id=uuid.uuid4(), reason="x")).model_copy(
        update={"type": "queue.ticket.teleported"})
    await js.publish(unknown.subject, unknown.to_bytes())
    good = await rig.publish()
    consumer = rig.consumer()

    async def done() -> bool:
        return len(await rig.applied()) == 1 and consumer.dead_lettered == 4

    await _run_until(consumer, done)
    rows = await rig.pool.fetch("SELECT error, num_delivered FROM dead_letters ORDER BY id")
    assert [r["num_delivered"] for r in rows] == [1, 1, 1, 1]
    errors = " | ".join(r["error"] for r in rows)
    assert "not an event envelope" in errors and "does not match" in errors
    assert "invalid queue.ticket.cancelled" in errors and "unknown event type" in errors
    assert await rig.applied() == [good.id]
    dlq = await rig.bus.js.stream_info(dead_letter_stream_name(s))
    assert dlq.state.messages == 4


async def test_transient_failure_is_retried_then_applied(rig: Rig) -> None:
    """A handler that fails twice and then succeeds applies the event once, on the third delivery."""
    env = await rig.publish("flaky2")
    consumer = rig.consumer(max_deliver=5)

    async def done() -> bool:
        return len(await rig.applied()) == 1

    await _run_until(consumer, done)
    assert rig.failures[str(env.id)] == 2
    assert await rig.pool.fetchval("SELECT count(*) FROM dead_letters") == 0


async def test_failure_beyond_max_deliveries_is_dead_lettered_not_retried_forever(rig: Rig) -> None:
    """A handler that keeps failing is tried max_deliver times, then the message is dead-lettered."""
    env = await rig.publish("flaky99")
    consumer = rig.consumer(max_deliver=3)

    async def done() -> bool:
        return consumer.dead_lettered == 1

    await _run_until(consumer, done, timeout_s=20)
    row = await rig.pool.fetchrow("SELECT * FROM dead_letters")
    assert row["num_delivered"] == 3 and "ConnectionError" in row["error"]
    assert rig.failures[str(env.id)] == 3
    assert await rig.applied() == []
