"""Delivery guarantees of the outbox relay: nothing lost when a process dies between commit and
publish, nothing doubled when it dies between publish and marking."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import nats

from hallnet.embedded import NatsServer, free_port, with_parent_death
from shared.bus import Bus
from shared.db import create_pool, migrate
from shared.events.base import make_event
from shared.events.queue import TicketCancelled
from shared.outbox import OutboxRelay, add_to_outbox
from shared.settings import site_stream_name
from tests.harness import Servers, wait_healthy
from tests.integration.conftest import read_stream, site_config


def _start_queue_process(site: str, database_url: str, nats_url: str, seed: Path, port: int,
                         log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    env.update(HALLNET_SITE=site, HALLNET_SERVICE="queue", NATS_URL=nats_url, DATABASE_URL=database_url,
               HALLNET_HTTP_PORT=str(port), HALLNET_TOKEN_SECRET="s", HALLNET_SEED_FILE=str(seed),
               HALLNET_ENFORCE_OFFICE_HOURS="false", HALLNET_LOG_FORMAT="json", HALLNET_SNAPSHOT_INTERVAL_S="3600")
    argv = with_parent_death([sys.executable, "-m", "services.queue"])
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"),  # noqa: S603  (our own service)
                            stderr=subprocess.STDOUT, start_new_session=True)


async def test_event_survives_a_kill_between_commit_and_publish(database_url: str, site: str,
                                                                tmp_path: Path) -> None:
    """The service is killed after the ticket is committed but before the event could be published:
    after a restart the event arrives, exactly once."""
    nats_server = NatsServer(store_dir=tmp_path / "js").start()  # our own, so we can freeze it
    seed = tmp_path / "site.json"
    seed.write_text(json.dumps(site_config(site, 2), ensure_ascii=False), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_queue_process(site, database_url, nats_server.url, seed, port, tmp_path / "q.log")
    try:
        await wait_healthy(url, "queue", proc)
        nats_server.stop()  # NATS goes away: the relay cannot publish (nats-py buffers in memory)
        async with httpx.AsyncClient() as client:
            r = await client.post(f"{url}/queue/api/v1/tickets", json={"matter_id": "yl-txsq"}, timeout=10)
        assert r.status_code == 201, r.text  # committed in PostgreSQL; the event is only in the outbox
        ticket_id = r.json()["id"]
        await asyncio.sleep(0.5)
        proc.kill()  # SIGKILL: no shutdown hook, no last flush, the client's buffer is lost
        proc.wait()
        nats_server.start()  # same port, same store
        nc = await nats.connect(nats_server.url)
        try:
            before = [e for e in await read_stream(nc, site, timeout_s=0.5) if e.data.get("ticket_id") == ticket_id]
            assert before == []  # really not published before the kill
            proc = _start_queue_process(site, database_url, nats_server.url, seed, port, tmp_path / "q.log")
            await wait_healthy(url, "queue", proc)
            events = await read_stream(nc, site, expect=1, types=("queue.ticket.issued",))
            await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
            events = await read_stream(nc, site, types=("queue.ticket.issued",))
            assert [e.data["ticket_id"] for e in events] == [ticket_id]
        finally:
            await nc.close()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        nats_server.stop()


async def test_republish_after_crash_before_marking_is_deduplicated(servers: Servers, database_url: str,
                                                                     site: str) -> None:
    """A relay that published but died before marking the rows publishes them again: the stream keeps one copy."""
    pool = await create_pool(database_url)
    bus = Bus(servers.nats_url, name="test")
    await bus.connect()
    try:
        await migrate(pool, "shared.migrations")
        await bus.ensure_site_streams(site)
        import uuid

        events = [make_event(site, TicketCancelled(ticket_id=uuid.uuid4(), reason="t")) for _ in range(5)]
        async with pool.acquire() as conn, conn.transaction():
            await add_to_outbox(conn, *events)
        relay = OutboxRelay(pool, bus)
        assert await relay.publish_pending() == 5
        await pool.execute("UPDATE outbox SET published_at = NULL")  # as if the marking never committed
        assert await relay.publish_pending() == 5
        info = await bus.js.stream_info(site_stream_name(site))
        assert info.state.messages == 5
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    finally:
        await bus.close()
        await pool.close()
