"""申诉复核 against real PostgreSQL and NATS: an appeal is decided by a second duty manager — never the one who
appealed, never the rated clerk. Approved, the rating is voided by a new chain entry (reason and approver) and
leaves the site's figures; rejected, the follow-up goes on where it was, and there is no second appeal."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.harness import Servers
from tests.integration.matters_fixtures import TZ
from tests.integration.ratings_fixtures import PREFIX, start_ratings


async def test_an_appeal_approved_by_a_second_manager_voids_the_rating(servers: Servers, site: str,
                                                                       database_url: str) -> None:
    """m001 appeals; m001 approving is 403 (复核 needs a second person), so is the rated clerk; m002 approves with a
    reason: chain entry 2 voids entry 1 (untouched), the chain verifies, the complaint closes voided."""
    async with start_ratings(servers, site, database_url) as env:
        rating, cid = await env.bad_rating(window_no=2)
        await env.step(cid, "appeal", env.manager, {}, expect=422)  # an appeal needs its reason
        c = await env.step(cid, "appeal", env.manager, {"note": "监控显示该群众未到窗口，疑似恶意差评"})
        assert (c["status"], c["appealed_by"], c["next_actions"]) == ("appealed", "m001", [])
        assert [b["action"] for b in c["blocked_actions"]] == ["approve", "reject"]
        assert "另一位值班长" in c["blocked_actions"][0]["message"]
        same = await env.complaint(cid, "approve", env.manager, {"note": "同意"})
        assert same.status_code == 403 and same.json()["error"] == "SecondReviewerRequired", same.text
        assert same.json()["message"].startswith("申诉须由另一位值班长复核")
        own = await env.complaint(cid, "approve", env.clerk("s002", 2, "manager"), {"note": "同意"})
        assert own.status_code == 403 and own.json()["error"] == "SecondReviewerRequired"
        assert (await env.complaint(cid, "approve", env.clerk("s002", 2), {"note": "x"})).status_code == 403
        assert (await env.detail(cid, env.manager2))["next_actions"] == ["approve", "reject"]
        await env.step(cid, "approve", env.manager2, {}, expect=422)  # voiding needs its reason
        c = await env.step(cid, "approve", env.manager2, {"note": "监控核实，系误评"})
        assert (c["status"], c["outcome"]) == ("closed", "voided")
        assert [(x["action"], x["staff_id"]) for x in c["log"]] == [("appeal", "m001"), ("approve", "m002")]
        rows = await env.app.pool.fetch("SELECT * FROM ratings ORDER BY chain_seq")
        assert [(x["kind"], x["level"]) for x in rows] == [("submitted", 1), ("voided", None)]
        assert rows[1]["voids"] == rows[0]["id"] and rows[1]["approved_by"] == "m002"
        assert rows[1]["void_reason"] == "监控核实，系误评" and str(rows[0]["id"]) == rating["id"]
        assert (await env.verify())["ok"]
        again = await env.complaint(cid, "approve", env.manager2, {"note": "再次"})
        assert again.status_code == 409 and "已办结" in again.json()["message"]
        events = await env.events(expect=5)
        assert [e.type for e in events][-3:] == ["ratings.complaint.appealed", "ratings.rating.voided",
                                                 "ratings.complaint.closed"]
        assert events[-1].data["outcome"] == "voided"
        assert all("恶意差评" not in e.to_bytes().decode() for e in events)
        today = datetime.now(TZ).date()
        q = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
        row = (await env.client.get(f"{PREFIX}/stats", params={**q, "group_by": "day"})).json()["rows"][0]
        assert (row["submitted"], row["voided"], row["bad"], row["satisfaction"], row["participation"]) == (
            0, 1, 0, None, 0.0)


async def test_a_rejected_appeal_goes_back_and_cannot_be_repeated(servers: Servers, site: str,
                                                                  database_url: str) -> None:
    """The clerk appeals a verified complaint; a manager rejects it (复核驳回): verified again, an
    ``appeal_rejected`` event; a second appeal is 409; the follow-up ends rectified and closed."""
    async with start_ratings(servers, site, database_url) as env:
        _, cid = await env.bad_rating(window_no=3)
        await env.step(cid, "verify", env.manager, {"note": "已回访"})
        clerk = env.clerk("s003", 3)
        assert (await env.step(cid, "appeal", clerk, {"note": "我已按规定办理"}))["status"] == "appealed"
        blocked = await env.complaint(cid, "rectify", clerk, {"note": "x"})
        assert blocked.status_code == 409 and "申诉待复核" in blocked.json()["message"]
        c = await env.step(cid, "reject", env.manager, {"note": "回访确认等候过久"})
        assert (c["status"], c["outcome"]) == ("verified", None)
        assert "appeal" not in c["next_actions"] and c["next_actions"] == ["rectify", "explain"]
        second = await env.complaint(cid, "appeal", clerk, {"note": "再申诉"})
        assert second.status_code == 409 and "不能再次申诉" in second.json()["message"]
        await env.step(cid, "rectify", clerk, {"note": "已改进"})
        assert (await env.step(cid, "close", env.manager))["outcome"] == "rectified"
        types = [e.type.rsplit(".", 1)[1] for e in await env.events(expect=7) if ".complaint." in e.type]
        assert types == ["opened", "verified", "appealed", "appeal_rejected", "rectified", "closed"]


async def test_an_appeal_of_an_open_complaint_rejected_goes_back_to_the_call_back(servers: Servers, site: str,
                                                                                 database_url: str) -> None:
    """Appealed before anyone called the citizen back, a rejected appeal leaves the complaint open: verify next."""
    async with start_ratings(servers, site, database_url) as env:
        _, cid = await env.bad_rating(window_no=2)
        await env.step(cid, "appeal", env.clerk("s002", 2), {"note": "误评"})
        c = await env.step(cid, "reject", env.manager2, {"note": "不成立"})
        assert (c["status"], c["next_actions"]) == ("open", ["verify"])
