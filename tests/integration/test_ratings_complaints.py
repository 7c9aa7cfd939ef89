"""Bad-rating follow-up (差评整改): a bad rating opens a complaint due in working days; verify, rectify or explain,
close; an appeal voids a rating with a new chain entry, a reason and an approver."""

from __future__ import annotations

from datetime import datetime

from tests.harness import Servers
from tests.integration.matters_fixtures import TZ, FakeClock
from tests.integration.ratings_fixtures import PREFIX, RatingsEnv, start_ratings

FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)


async def _bad_rating(env: RatingsEnv, window_no: int = 2, level: int = 1) -> tuple[dict[str, object], str]:
    inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no, staff_id=f"s00{window_no}"))
    r = await env.rate(inv["id"], {"level": level, "reasons": ["bad_attitude"], "text": "态度很差"})
    assert r.status_code == 201, r.text
    listed = (await env.client.get(f"{PREFIX}/complaints", headers=env.manager)).json()
    mine = [c for c in listed if c["rating_id"] == r.json()["id"]]
    assert len(mine) == 1
    return r.json(), mine[0]["id"]


async def test_bad_ratings_open_complaints_due_in_working_days(servers: Servers, site: str, database_url: str
                                                               ) -> None:
    """Levels 2 and 1 open a complaint due at the end of the 5th weekday after (Friday → next Friday); 3 does not."""
    async with start_ratings(servers, site, database_url, clock=FakeClock(FRIDAY)) as env:
        for window_no, level in ((1, 3), (2, 2), (3, 1)):
            inv = await env.invitation(window_no, await env.complete_ticket(window_no=window_no))
            assert (await env.rate(inv["id"], {"level": level})).status_code == 201
        listed = (await env.client.get(f"{PREFIX}/complaints", headers=env.manager)).json()
        assert sorted((c["window_no"], c["level"], c["status"]) for c in listed) == [(2, 2, "open"), (3, 1, "open")]
        assert {c["due_at"] for c in listed} == {"2026-11-27T23:59:59.000+08:00"}
        assert (await env.client.get(f"{PREFIX}/complaints")).status_code == 401
        events = await env.events(expect=5)
        opened = [e for e in events if e.type == "ratings.complaint.opened"]
        assert len(opened) == 2 and all(e.data["due_at"] for e in opened)


async def test_complaint_is_verified_rectified_and_closed(servers: Servers, site: str, database_url: str) -> None:
    """回访核实 by the manager (a clerk is refused), 整改 by the clerk, 办结 by the manager: each step an event,
    a step out of order is 409."""
    async with start_ratings(servers, site, database_url) as env:
        _, cid = await _bad_rating(env)
        clerk = env.clerk("s002", 2)
        early = await env.complaint(cid, "rectify", clerk)
        assert early.status_code == 409 and early.json()["error"] == "ComplaintStateError", early.text
        assert (await env.complaint(cid, "verify", clerk)).status_code == 403
        r = await env.complaint(cid, "verify", env.manager, {"note": "已电话回访"})
        assert r.status_code == 200 and r.json()["status"] == "verified"
        assert (await env.complaint(cid, "rectify", clerk, {"note": "已当面致歉"})).json()["status"] == "rectified"
        wrong = await env.complaint(cid, "close", env.manager, {"outcome": "upheld"})
        assert wrong.status_code == 422 and wrong.json()["error"] == "InvalidRating", wrong.text
        r = await env.complaint(cid, "close", env.manager)
        assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["outcome"] == "rectified"
        assert (await env.complaint(cid, "appeal", clerk)).status_code == 409
        detail = (await env.client.get(f"{PREFIX}/complaints/{cid}", headers=env.manager)).json()
        assert [x["action"] for x in detail["log"]] == ["verify", "rectify", "close"]
        events = [e for e in await env.events(expect=5) if e.type.startswith("ratings.complaint.")]
        assert [e.type.rsplit(".", 1)[1] for e in events] == ["opened", "verified", "rectified", "closed"]
        assert events[-1].data["outcome"] == "rectified"
        assert all("已当面致歉" not in e.to_bytes().decode() for e in events)


async def test_upheld_appeal_voids_the_rating_with_a_new_chain_entry(servers: Servers, site: str,
                                                                     database_url: str) -> None:
    """申诉成立: the manager voids the rating with a reason; the void is chain entry 2 with the approver, the
    original entry is untouched and the chain verifies; the rated clerk cannot approve it."""
    async with start_ratings(servers, site, database_url) as env:
        rating, cid = await _bad_rating(env)
        assert (await env.complaint(cid, "appeal", env.clerk("s002", 2), {"note": "恶意差评"})).status_code == 200
        assert (await env.complaint(cid, "close", env.manager, {"outcome": "voided"})).status_code == 422
        assert (await env.complaint(cid, "close", env.clerk("s002", 2, "manager"),
                                    {"outcome": "voided", "note": "x"})).status_code == 403
        r = await env.complaint(cid, "close", env.manager, {"outcome": "voided", "note": "监控核实，系误评"})
        assert r.status_code == 200 and r.json()["outcome"] == "voided"
        rows = await env.app.pool.fetch("SELECT * FROM ratings ORDER BY chain_seq")
        assert [(x["kind"], x["level"]) for x in rows] == [("submitted", 1), ("voided", None)]
        assert rows[1]["voids"] == rows[0]["id"] and rows[1]["approved_by"] == "m001"
        assert rows[1]["void_reason"] == "监控核实，系误评" and str(rows[0]["id"]) == rating["id"]
        assert (await env.verify())["ok"]
        closed = [e for e in await env.events(expect=4) if e.type == "ratings.complaint.closed"]
        assert closed[0].data["outcome"] == "voided"
