"""Yellow and red cards (黄牌/红牌) against real PostgreSQL and NATS: each (case, level) reaches the site
stream exactly once, whether the checker runs again, runs in parallel, the service restarts (in-process,
or a real process killed with SIGKILL) or the outbox relay publishes everything a second time."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import nats
import pytest

from hallnet.embedded import free_port
from services.matters.deadlines import check_deadlines
from shared.clock import now as clock_now
from tests.harness import Servers
from tests.integration.conftest import read_stream
from tests.integration.matters_fixtures import (
    PREFIX,
    TZ,
    FakeClock,
    MattersEnv,
    start_matters,
    start_matters_process,
    wait_healthy,
)

WARNED = ("matters.case.warned",)


@pytest.fixture
async def env(servers: Servers, site: str, database_url: str, tmp_path: Path) -> AsyncIterator[MattersEnv]:
    async with start_matters(servers, site, database_url, tmp_path) as e:
        yield e


async def _card_rows(database_url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [(str(r["case_id"]), r["level"])
                for r in await conn.fetch("SELECT case_id, level FROM case_warnings ORDER BY warned_at, level")]
    finally:
        await conn.close()


async def _republish_everything(database_url: str) -> None:
    """What a relay that crashed between publishing and marking does after a restart: publish again."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE outbox SET published_at = NULL")
        await conn.execute("NOTIFY hallnet_outbox")
        for _ in range(100):
            if await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("the relay did not publish again")
    finally:
        await conn.close()


async def test_each_card_once_across_reruns_parallel_checks_restart_and_republish(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """One yellow (03-04) and one red (03-06) despite reruns, parallel checks, a restart and a re-publish."""
    clock = FakeClock(datetime(2026, 2, 13, 10, tzinfo=TZ))
    async with start_matters(servers, site, database_url, tmp_path, clock=clock) as env:
        case_id = (await env.accept("yl-txsq"))["id"]
        other_id = (await env.accept("kk-sl"))["id"]  # 15 working days: due 03-12, no card in this test
        clock.set(2026, 3, 3, 10)
        assert await check_deadlines(env.app) == []
        clock.set(2026, 3, 4, 10)
        shown = await asyncio.gather(*(check_deadlines(env.app) for _ in range(4)))
        assert [(str(c), lv.value) for batch in shown for c, lv in batch] == [(case_id, "yellow")]
        assert await check_deadlines(env.app) == []
        case = (await env.client.get(f"{PREFIX}/cases/{case_id}", headers=env.auth())).json()
        assert (case["card"], case["cards_shown"], case["remaining_working_days"]) == ("yellow", ["yellow"], 1)

    clock.set(2026, 3, 4, 15)
    async with start_matters(servers, site, database_url, tmp_path, clock=clock) as env:  # a restart
        assert await check_deadlines(env.app) == []
        clock.set(2026, 3, 5, 23, 59, 58)
        assert await check_deadlines(env.app) == []
        clock.set(2026, 3, 6, 0, 0, 1)
        shown = await asyncio.gather(*(check_deadlines(env.app) for _ in range(4)))
        assert [(str(c), lv.value) for batch in shown for c, lv in batch] == [(case_id, "red")]
        r = await env.client.post(f"{PREFIX}/deadlines/check", headers=env.manager)
        assert r.status_code == 200 and r.json() == {"shown": []}
        await env.events(expect=2, types=WARNED)
        await _republish_everything(database_url)
        await asyncio.sleep(0.5)
        events = await env.events(types=WARNED)
        assert [(e.data["case_id"], e.data["level"]) for e in events] == [(case_id, "yellow"), (case_id, "red")]
        assert all(e.data["due_at"] == "2026-03-05T23:59:59+08:00" for e in events)
        assert len({e.id for e in events}) == 2
        assert other_id not in {e.data["case_id"] for e in events}
    assert await _card_rows(database_url) == [(case_id, "yellow"), (case_id, "red")]


async def test_suspended_and_completed_cases_get_no_card(env: MattersEnv) -> None:
    """Suspended or completed cases get no card; a late completion says overdue instead."""
    suspended = (await env.accept("yl-txsq"))["id"]
    done = (await env.accept("sy-jtsl"))["id"]
    late = (await env.accept("jy-knrd"))["id"]
    env.clock.set(2026, 3, 2, 10)
    await env.act(suspended, "suspend", {"reason_code": "hearing"})
    await env.act(done, "complete", {"result": "rejected"})
    env.clock.set(2026, 3, 20, 10)
    shown = await check_deadlines(env.app)
    assert [(str(c), lv.value) for c, lv in shown] == [(late, "red")]
    case = await env.act(late, "complete", {"result": "rejected"})
    assert case["overdue"] is True
    events = await env.events(expect=1, types=WARNED)
    assert [e.data["case_id"] for e in events] == [late]


async def test_yellow_by_share_of_the_limit_used(servers: Servers, site: str, database_url: str,
                                                 tmp_path: Path) -> None:
    """With the 80 % rule instead of one day left, a 10-day case is yellow once 8 working days are used."""
    async with start_matters(servers, site, database_url, tmp_path, matters_yellow_days_left=None,
                             matters_yellow_used_pct=80) as env:
        case_id = (await env.accept("yl-txsq"))["id"]  # 02-14 (调休), 02-24 … 02-28 (调休), 03-02 …
        env.clock.set(2026, 3, 2, 10)  # 7 used
        assert await check_deadlines(env.app) == []
        env.clock.set(2026, 3, 3, 10)  # 8 used, 2 left: the one-day rule would still wait
        assert [(str(c), lv.value) for c, lv in await check_deadlines(env.app)] == [(case_id, "yellow")]


async def test_a_killed_service_process_does_not_repeat_a_card(servers: Servers, site: str, database_url: str,
                                                                tmp_path: Path) -> None:
    """A red card shown by the real process is not shown again after SIGKILL and a restart."""
    accepted = clock_now(TZ) - timedelta(days=60)  # far enough back for any 10 working days
    async with start_matters(servers, site, database_url, tmp_path, clock=FakeClock(accepted)) as env:
        case_id = (await env.accept("yl-txsq"))["id"]
        settings = env.settings
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    nc = await nats.connect(servers.nats_url)
    proc = start_matters_process(settings, port, tmp_path / "matters.log")
    try:
        await wait_healthy(url, proc)
        events = await read_stream(nc, site, expect=1, types=WARNED)
        assert [(e.data["case_id"], e.data["level"]) for e in events] == [(case_id, "red")]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = start_matters_process(settings, port, tmp_path / "matters.log")
        await wait_healthy(url, proc)
        await asyncio.sleep(2.0)  # four rounds of the 0.5 s checker
        events = await read_stream(nc, site, types=WARNED)
        assert [(e.data["case_id"], e.data["level"]) for e in events] == [(case_id, "red")]
        assert await _card_rows(database_url) == [(case_id, "red")]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        await nc.close()
