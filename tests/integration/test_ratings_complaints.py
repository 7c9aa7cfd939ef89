"""Bad-rating follow-up (差评整改) against real PostgreSQL and NATS: a bad rating opens a complaint due in working
days; the manager reads what the citizen said (the words sealed at rest, for managers only) and follows it through
verify → rectify (now or by a date) or explain → close, each step an event, with ``next_actions`` from the state
machine and a clear 409 for a step out of turn. Appeals: ``test_ratings_appeals.py``."""

from __future__ import annotations

from datetime import datetime

from tests.harness import Servers
from tests.integration.matters_fixtures import TZ, FakeClock
from tests.integration.ratings_fixtures import PREFIX, start_ratings

FRIDAY = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
WORDS = "等了一个小时，窗口人员态度很差"


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
        assert {(c["due_day"], c["working_days_left"]) for c in listed} == {("2026-11-27", 5)}
        assert (await env.client.get(f"{PREFIX}/complaints")).status_code == 401
        events = await env.events(expect=5)
        opened = [e for e in events if e.type == "ratings.complaint.opened"]
        assert len(opened) == 2 and all(e.data["due_at"] for e in opened)


async def test_the_manager_reads_what_the_citizen_said_and_only_the_manager(servers: Servers, site: str,
                                                                             database_url: str) -> None:
    """The complaint shows level, indicators, reason tags and the citizen's words to a duty manager; a clerk sees
    it without the words; at rest the words are sealed (not in the table's text), and no event carries them."""
    async with start_ratings(servers, site, database_url) as env:
        rating, cid = await env.bad_rating(level=1, text=WORDS, reasons=["long_wait", "bad_attitude"])
        seen = await env.detail(cid)
        r = seen["rating"]
        assert (r["level"], r["level_label"], r["scale"]) == (1, "非常不满意", "national5")
        assert [(i["key"], i["label"], i["level"]) for i in r["indicators"]] == [
            ("efficiency", "服务效率", 2), ("attitude", "服务态度", 1)]
        assert [x["label"] for x in r["reasons"]] == ["等候时间长", "服务态度差"] and r["text"] == WORDS
        assert (seen["status"], seen["status_label"], seen["next_actions"]) == ("open", "待回访核实",
                                                                               ["verify", "appeal"])
        as_clerk = await env.detail(cid, env.clerk("s002", 2))
        assert as_clerk["rating"]["text"] is None and as_clerk["next_actions"] == ["appeal"]
        assert [b["action"] for b in as_clerk["blocked_actions"]] == ["verify"]
        listed = (await env.client.get(f"{PREFIX}/complaints", params={"status": "active"},
                                       headers=env.manager)).json()
        assert [c["rating"]["text"] for c in listed] == [WORDS]
        row = await env.app.pool.fetchrow("SELECT text, text_sealed FROM ratings WHERE id = $1::uuid", rating["id"])
        assert row["text"] is None and WORDS.encode() not in bytes(row["text_sealed"])
        assert (await env.verify())["ok"]  # the sealed words are chained
        events = await env.events(expect=2)
        assert all(WORDS not in e.to_bytes().decode() for e in events)


async def test_complaint_is_verified_rectified_and_closed(servers: Servers, site: str, database_url: str) -> None:
    """回访核实 by the manager (a clerk is refused), 整改 by the clerk, 办结 by the manager: each step an event and a
    log line; closing right after verifying is a 409 that says to rectify or explain first."""
    async with start_ratings(servers, site, database_url) as env:
        _, cid = await env.bad_rating()
        clerk = env.clerk("s002", 2)
        early = await env.complaint(cid, "rectify", clerk)
        assert early.status_code == 409 and early.json()["error"] == "ComplaintStateError", early.text
        assert early.json()["message"].startswith("请先回访核实")
        assert (await env.complaint(cid, "verify", clerk)).status_code == 403
        c = await env.step(cid, "verify", env.manager, {"note": "已电话回访"})
        assert c["status"] == "verified" and c["next_actions"] == ["rectify", "explain", "appeal"]
        too_soon = await env.complaint(cid, "close", env.manager)
        assert too_soon.status_code == 409 and "须先整改或解释说明" in too_soon.json()["message"], too_soon.text
        other_clerk = await env.complaint(cid, "rectify", env.clerk("s009", 9), {"note": "x"})
        assert other_clerk.status_code == 403 and other_clerk.json()["error"] == "NotYourStep"
        c = await env.step(cid, "rectify", clerk, {"note": "已当面致歉"})
        assert c["status"] == "rectified" and c["next_actions"] == []  # a clerk does not close
        assert (await env.detail(cid))["next_actions"] == ["close"]
        wrong = await env.complaint(cid, "close", env.manager, {"outcome": "explained"})
        assert wrong.status_code == 422 and wrong.json()["error"] == "StepInputInvalid", wrong.text
        c = await env.step(cid, "close", env.manager)
        assert (c["status"], c["outcome"], c["next_actions"]) == ("closed", "rectified", [])
        again = await env.complaint(cid, "appeal", clerk, {"note": "x"})
        assert again.status_code == 409 and "已办结" in again.json()["message"]
        assert [x["action"] for x in c["log"]] == ["verify", "rectify", "close"]
        events = [e for e in await env.events(expect=5) if e.type.startswith("ratings.complaint.")]
        assert [e.type.rsplit(".", 1)[1] for e in events] == ["opened", "verified", "rectified", "closed"]
        assert events[-1].data["outcome"] == "rectified"
        assert all("已当面致歉" not in e.to_bytes().decode() for e in events)


async def test_rectified_by_a_date_then_done_or_explained(servers: Servers, site: str, database_url: str) -> None:
    """限期整改: by a day within the due day (a later or past day is 422), reported done later, then closed; another
    complaint is explained instead and closes as explained."""
    async with start_ratings(servers, site, database_url, clock=FakeClock(FRIDAY)) as env:
        _, cid = await env.bad_rating(window_no=2)
        await env.step(cid, "verify", env.manager)
        for by in ("2026-11-30", "2026-11-19"):
            await env.step(cid, "rectify", env.manager, {"by": by}, expect=422)
        c = await env.step(cid, "rectify", env.manager, {"by": "2026-11-25", "note": "更换叫号设备"})
        assert (c["status"], c["rectify_by"], c["next_actions"]) == ("rectifying", "2026-11-25",
                                                                     ["rectify", "explain"])
        c = await env.step(cid, "rectify", env.clerk("s002", 2), {"note": "设备已更换"})
        assert c["status"] == "rectified"
        assert (await env.step(cid, "close", env.manager))["outcome"] == "rectified"

        _, cid2 = await env.bad_rating(window_no=3)
        await env.step(cid2, "verify", env.manager)
        await env.step(cid2, "explain", env.clerk("s003", 3), {}, expect=422)  # an explanation needs its text
        c = await env.step(cid2, "explain", env.clerk("s003", 3), {"note": "按政策须本人到场办理"})
        assert c["status"] == "explained"
        assert (await env.step(cid2, "close", env.manager))["outcome"] == "explained"
        events = [e for e in await env.events(expect=11) if e.type == "ratings.complaint.rectified"]
        assert [(e.data["outcome"], e.data["rectify_by"]) for e in events] == [
            ("rectifying", "2026-11-25"), ("rectified", None)]


async def test_bad_input_and_unknown_complaints_are_clear_4xx(servers: Servers, site: str, database_url: str
                                                              ) -> None:
    """An unknown complaint is 404, an unknown field or status 422/400, a malformed date 422: JSON, never a 500."""
    async with start_ratings(servers, site, database_url) as env:
        _, cid = await env.bad_rating()
        missing = await env.complaint("0190f0e0-0000-7000-8000-000000000001", "verify", env.manager)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert (await env.complaint(cid, "verify", env.manager, {"nope": 1})).status_code == 422
        assert (await env.complaint(cid, "rectify", env.manager, {"by": "tomorrow"})).status_code == 422
        r = await env.client.get(f"{PREFIX}/complaints", params={"status": "lost"}, headers=env.manager)
        assert r.status_code == 400 and set(r.json()) >= {"error", "message"}
