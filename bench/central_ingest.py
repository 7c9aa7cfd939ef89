"""Central's real ingest (``services.central.ingest.Ingest``: durable pull consumer on CENTRAL, one transaction per
batch, inbox de-duplication, set-based projection upserts), driven in the benchmark's process so that it can
record, for every applied event, the time from its ``occurred_at`` to the commit of its batch."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import asyncpg

from services.central.ingest import BatchResult, Ingest
from shared.bus import Bus
from shared.db import create_pool, ensure_database, migrate


class CentralUnderTest:
    def __init__(self, ingest: Ingest, pool: asyncpg.Pool, bus: Bus) -> None:
        self.ingest = ingest
        self.pool = pool
        self.bus = bus
        self.latencies_s: list[float] = []
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, central_url: str, dsn: str, sites: list[str], *, batch: int = 1000,
                    fresh: bool = False) -> CentralUnderTest:
        """``fresh``: a new database and a new durable consumer, so everything in CENTRAL is applied anew."""
        if fresh:
            dsn = dsn.rsplit("/", 1)[0] + f"/central_{uuid.uuid4().hex[:8]}"
        await ensure_database(dsn)
        pool = await create_pool(dsn, min_size=2, max_size=4)
        await migrate(pool, "shared.migrations", "services.central.migrations")
        bus = Bus(central_url, name="bench-central")
        await bus.connect()
        holder: list[CentralUnderTest] = []

        async def on_batch(result: BatchResult) -> None:
            holder[0].latencies_s += [result.committed_at - t.timestamp() for t in result.occurred_at]

        durable = f"central-{uuid.uuid4().hex[:8]}" if fresh else "central"
        ingest = Ingest(pool, bus=bus, durable=durable, batch=batch, on_batch=on_batch)
        self = cls(ingest, pool, bus)
        holder.append(self)
        self.task = asyncio.create_task(ingest.run())
        return self

    @property
    def applied(self) -> int:
        return self.ingest.applied

    async def wait_applied(self, count: int, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.ingest.applied < count:
            if loop.time() > deadline:
                raise TimeoutError(f"central applied {self.ingest.applied} of {count} events in {timeout_s}s")
            if self.task is not None and self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)

    async def check_counts(self) -> dict[str, Any]:
        """What the projections say, against what was applied (nothing counted twice)."""
        async with self.pool.acquire() as conn:
            issued = await conn.fetchval("SELECT coalesce(sum(issued), 0) FROM site_day")
            inbox = await conn.fetchval("SELECT count(*) FROM inbox")
        return {"applied": self.ingest.applied, "duplicates": self.ingest.duplicates, "inbox_rows": inbox,
                "issued_in_projection": int(issued), "dead_lettered": self.ingest.dead_lettered}

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await self.bus.close()
        await self.pool.close()
