"""A complaint not closed by its due_at emits ``ratings.complaint.overdue`` exactly once: two checkers at once,
a rerun and a restart flag it once; a closed complaint is never flagged."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.harness import Servers
from tests.integration.matters_fixtures import TZ, FakeClock
from tests.integration.ratings_fixtures import PREFIX, RatingsEnv, start_ratings

OPENED = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)  # due 2026-10-13 (National Day; 10-10 is a 调休 Saturday)


async def _bad(env: RatingsEnv, window_no: int) -> str:
    inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no, staff_id=f"s00{window_no}"))
    r = await env.rate(inv["id"], {"level": 1, "reasons": ["bad_attitude"]})
    assert r.status_code == 201, r.text
    listed = (await env.client.get(f"{PREFIX}/complaints", headers=env.manager)).json()
    return next(c["id"] for c in listed if c["rating_id"] == r.json()["id"])


async def test_overdue_complaint_emits_once_across_checkers_and_a_restart(servers: Servers, site: str,
                                                                          database_url: str) -> None:
    async with start_ratings(servers, site, database_url, clock=FakeClock(OPENED)) as env:
        late = await _bad(env, 1)
        closed = await _bad(env, 2)
        got = (await env.client.get(f"{PREFIX}/complaints/{late}", headers=env.manager)).json()
        assert got["due_at"] == "2026-10-13T23:59:59.000+08:00"
        assert (await env.complaint(closed, "verify", env.manager)).status_code == 200
        assert (await env.complaint(closed, "rectify", env.clerk("s002", 2))).status_code == 200
        assert (await env.complaint(closed, "close", env.manager, {"outcome": "rectified"})).status_code == 200
        env.clock.set(2026, 10, 13, 23, 0)
        assert await env.app.flag_overdue() == 0  # still due today
        env.clock.set(2026, 10, 14, 9, 0)
        assert sorted(await asyncio.gather(env.app.flag_overdue(), env.app.flag_overdue())) == [0, 1]
        assert await env.app.flag_overdue() == 0
        clock = env.clock
    async with start_ratings(servers, site, database_url, clock=FakeClock(clock.at), check_interval_s=0.05) as env:
        await asyncio.sleep(0.3)  # the periodic checker ran several times
        assert await env.app.flag_overdue() == 0
        events = await env.events(expect=8)  # 2 submitted, 2 opened, verified, rectified, closed, overdue
        overdue = [e for e in events if e.type == "ratings.complaint.overdue"]
        assert len(overdue) == 1
        assert overdue[0].data["complaint_id"] == late and overdue[0].data["outcome"] is None
        assert overdue[0].data["rating_id"] and overdue[0].data["due_at"]
        assert await env.app.pool.fetchval("SELECT count(*) FROM complaint_overdue") == 1


async def test_periodic_checker_flags_an_overdue_complaint(servers: Servers, site: str, database_url: str) -> None:
    async with start_ratings(servers, site, database_url, clock=FakeClock(OPENED), check_interval_s=0.1) as env:
        cid = await _bad(env, 1)
        env.clock.set(2026, 10, 20, 9, 0)
        async with asyncio.timeout(10):
            while True:
                events = [e for e in await env.events() if e.type == "ratings.complaint.overdue"]
                if events:
                    break
                await asyncio.sleep(0.1)
        assert [e.data["complaint_id"] for e in events] == [cid]
