"""Published results at the site: 好评 = 基本满意 and better (levels ≥ 3 of 5), a rating not given in time counts as
基本满意, a voided rating (申诉复核 upheld) leaves every figure; per window, clerk and day, and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from tests.harness import Servers
from tests.integration.ratings_fixtures import PREFIX, RatingsEnv, start_ratings

# window → the level its citizen gives (None: no answer, defaulted; "void": a 1, voided on appeal)
PLAN: dict[int, int | str | None] = {1: 5, 2: 4, 3: 3, 4: 2, 5: 1, 6: None, 7: "void"}


async def rate_the_plan(env: RatingsEnv) -> date:
    """Each window's service rated as PLAN says; the void approved by a second manager; the default after expiry.
    Returns the (site) day the services were completed."""
    day = env.clock().date()
    for window_no, level in PLAN.items():
        at = env.clock()
        inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no,
                                                                         staff_id=f"s00{window_no}", at=at))
        if level is not None:
            body: dict[str, Any] = {"level": 1 if level == "void" else level}
            assert (await env.rate(inv["id"], body)).status_code == 201
    listed = (await env.client.get(f"{PREFIX}/complaints", headers=env.manager)).json()
    cid = next(c["id"] for c in listed if c["window_no"] == 7)
    await env.step(cid, "appeal", env.manager, {"note": "误评"})
    await env.step(cid, "approve", env.manager2, {"note": "误评，已核实"})
    env.clock.advance(hours=2)
    assert await env.app.default_expired() == 1
    return day


async def test_each_level_a_default_and_a_void_count_as_the_nation_counts(servers: Servers, site: str,
                                                                          database_url: str) -> None:
    """Windows rated 5, 4, 3 are 好评, 2 and 1 差评, the defaulted one 好评, the voided one in no figure but voided;
    the day: 4 satisfied of 6 standing ratings, 2 bad, participation 5 of 7; the CSV has the same numbers."""
    async with start_ratings(servers, site, database_url, ratings_expiry_s=3600) as env:
        today = await rate_the_plan(env)
        q = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        by_window = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "window"})).json()["rows"]
        got = {r["key"]: (r["submitted"], r["defaulted"], r["voided"], r["satisfied"], r["bad"], r["satisfaction"])
               for r in by_window}
        assert got == {"1": (1, 0, 0, 1, 0, 1.0), "2": (1, 0, 0, 1, 0, 1.0), "3": (1, 0, 0, 1, 0, 1.0),
                       "4": (1, 0, 0, 0, 1, 0.0), "5": (1, 0, 0, 0, 1, 0.0), "6": (0, 1, 0, 1, 0, 1.0),
                       "7": (0, 0, 1, 0, 0, None)}
        assert {r["key"]: r["participation"] for r in by_window}["7"] == 0.0
        by_staff = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "staff"})).json()["rows"]
        assert [(r["key"], r["satisfaction"]) for r in by_staff][2:4] == [("s003", 1.0), ("s004", 0.0)]
        by_day = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "day"})).json()["rows"]
        assert by_day == [{"key": today.isoformat(), "invitations": 7, "submitted": 5, "defaulted": 1, "voided": 1,
                           "satisfied": 4, "bad": 2, "satisfaction": round(4 / 6, 4),
                           "participation": round(5 / 7, 4)}]
        r = await env.client.get(f"{PREFIX}/stats.csv", params={**q, "group_by": "day"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
        assert table[0][:3] == ["day", "invitations", "submitted"]
        assert table[1] == [today.isoformat(), "7", "5", "1", "1", "4", "2", str(round(4 / 6, 4)),
                            str(round(5 / 7, 4))]
        bad = await env.client.get(f"{PREFIX}/stats", params={"from": q["to"], "to": q["from"]})
        assert bad.status_code == 400


async def test_the_seeds_four_level_scale_counts_its_own_way(servers: Servers, site: str, database_url: str
                                                             ) -> None:
    """On the seeds' scale 4, 3 and 2 (一般, its 基本满意) are 好评, 1 is 差评: 3 of 4 satisfied."""
    async with start_ratings(servers, site, database_url, ratings_scale="seeds4") as env:
        for window_no, level in ((1, 4), (2, 3), (3, 2), (4, 1)):
            inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no))
            assert (await env.rate(inv["id"], {"level": level})).status_code == 201
        today = env.clock().date()
        q = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        (row,) = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "day"})).json()["rows"]
        assert (row["satisfied"], row["bad"], row["satisfaction"]) == (3, 1, 0.75)
