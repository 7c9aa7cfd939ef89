"""Central → site on real servers (shared/downlink.py): the province publishes 2027's arrangement at central; two
sites on their own leaf servers install it exactly once — one of them while its WAN link is cut, when it returns —
their open deadlines move, central sees who applied which version, and a new version supersedes the old."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest

from hallnet import natsconf
from hallnet.testbed import Testbed
from services.matters.downlink import DURABLE
from tests.harness import Servers
from tests.integration.central_fixtures import central_settings, running
from tests.integration.matters_fixtures import (
    TZ,
    FakeClock,
    MattersEnv,
    own_database,
    start_matters,
)

SITES = ["zhuzhou", "hengnan"]
SOURCE = "国办发明电〔2026〕7号"
# 4 and 5 January 2027 (Monday, Tuesday) off, Saturday 9 January worked: a case due on 5 January moves to 7 January
V1 = {"holidays": ["2027-01-04", "2027-01-05"], "workdays": ["2027-01-09"], "source": SOURCE}
V2 = {"holidays": ["2027-01-04", "2027-01-05", "2027-01-06"], "workdays": ["2027-01-09"],
      "source": "国办发明电〔2026〕8号"}


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    """Poll ``check`` every 0.5 s until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def bed(tmp_path: Path) -> AsyncIterator[Testbed]:
    bed = await Testbed(tmp_path / "nats", list(SITES)).start()
    nc = await nats.connect(bed.central_url)
    await natsconf.ensure_central_stream(nc.jetstream(), SITES)
    await nc.close()
    yield bed
    await bed.stop()


@contextlib.asynccontextmanager
async def site_matters(servers: Servers, bed: Testbed, site: str, tmp_path: Path, clock: FakeClock
                       ) -> AsyncIterator[MattersEnv]:
    """The matters service of ``site`` on its own leaf server and database."""
    (tmp_path / site).mkdir(exist_ok=True)
    async with own_database(servers, f"dl_{site}_{tmp_path.name[-8:]}".lower().replace("-", "_")) as dsn:
        leaf_servers = _LeafServers(servers, bed.site_url(site))
        async with start_matters(leaf_servers, site, dsn, tmp_path / site, clock=clock) as env:  # type: ignore[arg-type]  # a Servers with the site's leaf URL
            yield env


class _LeafServers:
    """``Servers`` as start_matters uses it, pointing at the site's leaf server."""

    def __init__(self, servers: Servers, nats_url: str) -> None:
        self._servers = servers
        self.nats_url = nats_url

    def __getattr__(self, name: str) -> Any:
        return getattr(self._servers, name)


async def _due_on(env: MattersEnv, case_id: str) -> date:
    conn = await asyncpg.connect(env.database_url)
    try:
        return await conn.fetchval("SELECT due_on FROM cases WHERE id = $1::uuid", case_id)
    finally:
        await conn.close()


async def _installed(env: MattersEnv) -> tuple[int, int]:
    """(inbox rows of the downlink consumer, matters.calendar.installed events in the outbox)."""
    conn = await asyncpg.connect(env.database_url)
    try:
        inbox = await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", DURABLE)
        events = await conn.fetchval("SELECT count(*) FROM outbox WHERE subject LIKE '%.matters.calendar.installed'")
        return int(inbox), int(events)
    finally:
        await conn.close()


async def _calendar(env: MattersEnv) -> dict[str, Any]:
    r = await env.client.get("/matters/api/v1/calendar/2027")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_an_arrangement_reaches_an_online_and_an_offline_site_once_and_moves_their_deadlines(
        servers: Servers, bed: Testbed, database_url: str, tmp_path: Path) -> None:
    """Published while hengnan's link is cut: zhuzhou installs it within 60 s, hengnan when its link returns; each
    moves its open case due on 5 January; central shows both; version 2 supersedes it, each applied exactly once."""
    clock = FakeClock(datetime(2026, 12, 30, 10, 0, tzinfo=TZ))
    settings = central_settings(servers, database_url, SITES, natsconf.CENTRAL_STREAM, "central").model_copy(
        update={"nats_url": bed.central_url})
    async with (running(settings, clock) as (_, central), site_matters(servers, bed, "zhuzhou", tmp_path, clock) as zz,
                site_matters(servers, bed, "hengnan", tmp_path, clock) as hn):
        cases = {}
        for env in (zz, hn):
            case = await env.accept("yl-txsq")
            cases[env.settings.site] = case["id"]
            assert (await _calendar(env))["status"] == "provisional"
        before = {s: await _due_on(e, cases[s]) for s, e in (("zhuzhou", zz), ("hengnan", hn))}
        assert before["zhuzhou"] == before["hengnan"]
        await bed.links["hengnan"].cut()
        auth = await _supervisor(central)
        r = await central.put("/central/api/v1/calendar/2027", json=V1, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["published"]["version"] == 1

        async def official(env: MattersEnv, source: str) -> bool:
            cal = await _calendar(env)
            return bool(cal["status"] == "official" and cal["source"] == source)

        await wait_for("zhuzhou to install the arrangement", lambda: official(zz, SOURCE), 60)
        await asyncio.sleep(3)  # hengnan has had its chance: nothing crosses a cut link
        assert not await official(hn, SOURCE)
        await bed.links["hengnan"].restore()
        await wait_for("hengnan to install it after its link returned", lambda: official(hn, SOURCE), 90)
        for site, env in (("zhuzhou", zz), ("hengnan", hn)):
            assert await _due_on(env, cases[site]) != before[site], f"{site}'s open case kept its due date"
            assert await _installed(env) == (1, 1)

        async def central_sees(version: int) -> bool:
            view = (await central.get("/central/api/v1/calendar/2027", headers=auth)).json()
            return all(s["version"] == version and s["current"] for s in view["sites"] if s["site"] in SITES)

        await wait_for("central to see both sites apply version 1", lambda: central_sees(1), 90)

        r = await central.put("/central/api/v1/calendar/2027", json=V2, headers=auth)
        assert r.status_code == 200 and r.json()["published"]["version"] == 2, r.text
        for env in (zz, hn):
            await wait_for(f"{env.settings.site} to install version 2", lambda e=env: official(e, V2["source"]), 60)
            assert await _installed(env) == (2, 2)
        await wait_for("central to see both sites apply version 2", lambda: central_sees(2), 90)


async def _supervisor(client: Any) -> dict[str, str]:
    from tests.integration.central_fixtures import SUPERVISOR, SUPERVISOR_PASSWORD

    r = await client.post("/central/api/v1/sign-in", json={"username": SUPERVISOR, "password": SUPERVISOR_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
