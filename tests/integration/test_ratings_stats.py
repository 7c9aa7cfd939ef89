"""Published results: satisfaction (满意率) and participation (参评率) per window, clerk and day, and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from tests.harness import Servers
from tests.integration.matters_fixtures import TZ
from tests.integration.ratings_fixtures import PREFIX, start_ratings


async def test_satisfaction_and_participation_per_window_staff_and_day(servers: Servers, site: str,
                                                                       database_url: str) -> None:
    """Window 1: 5, 4 and a voided 1 → satisfaction 100 %, participation 100 %; window 2: a 3 and a default →
    satisfaction 0 %, participation 50 %; by clerk and by day alike; the CSV has the same numbers."""
    async with start_ratings(servers, site, database_url, ratings_expiry_s=3600) as env:
        ids = {}
        for n, (window_no, level) in enumerate(((1, 5), (1, 4), (1, 1), (2, 3), (2, None))):
            inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no,
                                                                            staff_id=f"s00{window_no}"))
            ids[n] = inv["id"]
            if level is not None:
                assert (await env.rate(inv["id"], {"level": level})).status_code == 201
        cid = (await env.client.get(f"{PREFIX}/complaints", headers=env.manager)).json()[0]["id"]
        assert (await env.complaint(cid, "appeal", env.clerk("s001", 1), {"note": "误评"})).status_code == 200
        r = await env.complaint(cid, "close", env.manager, {"outcome": "voided", "note": "误评，已核实"})
        assert r.status_code == 200
        env.clock.advance(hours=2)
        assert await env.app.default_expired() == 1
        today = datetime.now(TZ).date()
        q = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        by_window = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "window"})).json()["rows"]
        assert by_window == [
            {"key": "1", "invitations": 3, "submitted": 2, "defaulted": 0, "voided": 1, "satisfied": 2,
             "satisfaction": 1.0, "participation": 1.0},
            {"key": "2", "invitations": 2, "submitted": 1, "defaulted": 1, "voided": 0, "satisfied": 0,
             "satisfaction": 0.0, "participation": 0.5}]
        by_staff = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "staff"})).json()["rows"]
        assert [(r["key"], r["satisfaction"], r["participation"]) for r in by_staff] == [
            ("s001", 1.0, 1.0), ("s002", 0.0, 0.5)]
        by_day = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "day"})).json()["rows"]
        assert by_day == [{"key": today.isoformat(), "invitations": 5, "submitted": 3, "defaulted": 1, "voided": 1,
                           "satisfied": 2, "satisfaction": 0.5, "participation": 0.8}]
        r = await env.client.get(f"{PREFIX}/stats.csv", params={**q, "group_by": "window"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
        assert table[0][:3] == ["window", "invitations", "submitted"]
        assert table[1] == ["1", "3", "2", "0", "1", "2", "1.0", "1.0"]
        bad = await env.client.get(f"{PREFIX}/stats", params={"from": q["to"], "to": q["from"]})
        assert bad.status_code == 400
