"""The central wall's API against real NATS and PostgreSQL: alerts acknowledged and resolved by a signed-in
supervisor (never a clerk), condition alerts opening and clearing, thresholds, daily and monthly reports as JSON and
CSV, series, and the server-sent event stream."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import uvicorn

from hallnet.embedded import free_port
from shared.auth import ClerkClaims, issue_token
from shared.events.matters import CaseAccepted, CaseCompleted, CaseWarned
from shared.events.queue import (
    QueueSnapshot,
    QueueSnapshotItem,
    TicketCalled,
    TicketCompleted,
    TicketIssued,
    WindowPaused,
    WindowResumed,
    WindowSignedIn,
    WindowSignedOut,
    WindowSnapshotItem,
)
from shared.events.ratings import ComplaintClosed, ComplaintOpened, ComplaintOverdue, RatingSubmitted
from shared.events.site import SiteHeartbeat
from tests.integration.central_fixtures import (
    MONDAY_10,
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401  (the fixture, by its name)
)

Q = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


def rating(level: int, rating_id: uuid.UUID | None = None) -> RatingSubmitted:
    return RatingSubmitted(rating_id=rating_id or uuid.uuid4(), subject="ticket", subject_id=uuid.uuid4(),
                           window_no=3, staff_id="s003", matter_id="yl-txsq", scale="national5", level=level,
                           channel="onsite", chain_seq=1, chain_hash="h")


def snapshot(waiting: int, longest: int, windows_open: int) -> QueueSnapshot:
    return QueueSnapshot(queues=[QueueSnapshotItem(queue_id=Q, waiting=waiting, longest_wait_s=longest,
                                                   windows_open=windows_open)],
                         windows=[WindowSnapshotItem(window_no=1, state="open", staff_id="s001")])


def served(site_env: CentralEnv, site: str, waited_s: int, served_s: int, **at: float) -> list:
    t = uuid.uuid4()
    return [site_env.event(site, TicketIssued(ticket_id=t, number="A001", queue_id=Q, matter_id="m", priority="normal",
                                              channel="kiosk", ahead=0, estimated_wait_s=0), **at),
            site_env.event(site, TicketCalled(ticket_id=t, number="A001", queue_id=Q, window_no=1, staff_id="s001",
                                              call_no=1, waited_s=waited_s), **at),
            site_env.event(site, TicketCompleted(ticket_id=t, number="A001", queue_id=Q, matter_id="m", window_no=1,
                                                 staff_id="s001", waited_s=waited_s, served_s=served_s), **at)]


async def alerts_of(env: CentralEnv, site: str, kind: str, state: str | None = None) -> list[dict]:
    params = {"site": site, **({"state": state} if state else {})}
    r = await env.client.get(f"{PREFIX}/alerts", params=params)
    assert r.status_code == 200, r.text
    return [a for a in r.json() if a["kind"] == kind]


async def test_a_supervisor_acknowledges_and_resolves_a_bad_rating_alert_a_clerk_cannot(
        central_env: CentralEnv) -> None:
    """A 差评 opens one alert; acting on it needs a supervisor: no token 401, a site clerk's token 401, a wrong
    password 401; the supervisor acknowledges it (who and when), cannot acknowledge twice (409), then resolves it."""
    env = central_env
    zz = env.sites[0]
    await env.publish(env.event(zz, rating(1)), env.event(zz, rating(5)))
    await env.wait_ingested(2)
    [alert] = await alerts_of(env, zz, "bad_rating", "open")
    assert alert["severity"] == "yellow" and alert["detail"]["window_no"] == 3
    url = f"{PREFIX}/alerts/{alert['id']}"
    assert (await env.client.post(f"{url}/ack")).status_code == 401
    clerk = issue_token("central-test-secret", ClerkClaims(site=zz, staff_id="s003", window_no=3,
                                                           session_id=uuid.uuid4(), expires_at=int(time.time()) + 600))
    r = await env.client.post(f"{url}/ack", headers={"Authorization": f"Bearer {clerk}"})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    r = await env.client.post(f"{PREFIX}/sign-in", json={"username": "sup01", "password": "wrong"})
    assert r.status_code == 401
    sup = await env.supervisor()
    env.clock.advance(minutes=5)
    r = await env.client.post(f"{url}/ack", headers=sup, json={"note": "已电话回访"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged" and body["acked_by"] == "sup01"
    assert body["acked_at"].startswith("2026-11-23T10:05:00") and body["note"] == "已电话回访"
    assert (await env.client.post(f"{url}/ack", headers=sup)).status_code == 409
    assert await alerts_of(env, zz, "bad_rating", "open") == []
    env.clock.advance(minutes=5)
    r = await env.client.post(f"{url}/resolve", headers=sup)
    assert r.status_code == 200 and r.json()["state"] == "resolved" and r.json()["resolved_by"] == "sup01"
    assert r.json()["resolved_at"].startswith("2026-11-23T10:10:00")
    assert (await env.client.post(f"{url}/resolve", headers=sup)).status_code == 409
    assert (await env.client.post(f"{PREFIX}/alerts/999999/ack", headers=sup)).status_code == 404


async def test_complaint_and_case_alerts_follow_their_events(central_env: CentralEnv) -> None:
    """An overdue complaint and a yellow then red card open red alerts (the yellow one is resolved by the red);
    closing the complaint and completing the case resolve them automatically."""
    env = central_env
    zz = env.sites[0]
    case, complaint, rid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    due = MONDAY_10 + timedelta(days=1)
    await env.publish(
        env.event(zz, WindowSignedIn(window_no=1, staff_id="s001")),
        env.event(zz, rating(2, rid)),
        env.event(zz, ComplaintOpened(complaint_id=complaint, rating_id=rid, due_at=due)),
        env.event(zz, ComplaintOverdue(complaint_id=complaint, rating_id=rid, due_at=due)),
        env.event(zz, CaseAccepted(case_id=case, matter_id="m", kind="promised", window_no=1, staff_id="s001",
                                   time_limit_days=3, due_at=due)),
        env.event(zz, CaseWarned(case_id=case, level="yellow", due_at=due)),
        env.event(zz, CaseWarned(case_id=case, level="red", due_at=due)))
    await env.wait_ingested(7)
    await env.app.evaluate()  # the site is heard from: the 'offline' alert of start-up clears
    s = await env.site(zz)
    kinds = {a["kind"]: a for a in s["open_alerts"]}
    assert set(kinds) == {"bad_rating", "complaint_overdue", "case_red"}
    assert s["status"] == "red" and s["today"]["overdue_cases"] == 1
    assert (await alerts_of(env, zz, "case_yellow", "resolved"))[0]["note"] == "escalated to red"
    await env.publish(env.event(zz, ComplaintClosed(complaint_id=complaint, rating_id=rid, outcome="rectified")),
                      env.event(zz, CaseCompleted(case_id=case, result="approved", working_days_used=4, overdue=True)))
    await env.wait_ingested(9)
    s = await env.site(zz)
    assert s["open_alerts"] == [] and s["today"]["open_complaints"] == 0
    assert s["today"]["overdue_rate"] == 1.0


async def test_queue_and_window_alerts_open_and_clear_with_the_state(central_env: CentralEnv) -> None:
    """A snapshot with a 40-minute wait and 25 people for one window opens long-wait and queue alerts; a window
    paused for more than 15 minutes in office hours is 空窗; a window signed out at 11:30 is an early leave; each
    clears when the state does (resumed, signed in again, the next snapshot), and a raised threshold clears too."""
    env = central_env
    zz = env.sites[0]
    await env.publish(env.event(zz, WindowSignedIn(window_no=1, staff_id="s001"), minutes=-30),
                      env.event(zz, WindowSignedIn(window_no=2, staff_id="s002"), minutes=-30),
                      env.event(zz, WindowPaused(window_no=2, staff_id="s002", reason="break"), minutes=-20),
                      env.event(zz, snapshot(25, 2400, 1)),
                      env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(5)
    await env.app.evaluate()
    open_kinds = {a["kind"] for a in (await env.site(zz))["open_alerts"]}
    assert {"long_wait", "queue_long", "empty_window"} <= open_kinds
    [empty] = await alerts_of(env, zz, "empty_window")
    assert empty["detail"] == {"window_no": 2, "state": "paused"}
    sup = await env.supervisor()
    r = await env.client.put(f"{PREFIX}/thresholds", headers=sup, json={"long_wait_s": 3600})
    assert r.status_code == 200 and r.json()["long_wait_s"] == 3600 and r.json()["updated_by"] == "sup01"
    assert (await env.client.put(f"{PREFIX}/thresholds", json={"long_wait_s": 60})).status_code == 401
    r = await env.client.put(f"{PREFIX}/thresholds", headers=sup, json={"long_wait_s": -5})
    assert r.status_code == 422
    assert (await alerts_of(env, zz, "long_wait"))[0]["state"] == "resolved"
    assert (await env.client.get(f"{PREFIX}/thresholds")).json()["long_wait_s"] == 3600
    await env.publish(env.event(zz, WindowResumed(window_no=2, staff_id="s002")),
                      env.event(zz, snapshot(2, 300, 2)))
    await env.wait_ingested(7)
    await env.app.evaluate()
    assert {a["kind"] for a in (await env.site(zz))["open_alerts"]} == set()
    # 11:30: window 2 signs out half an hour before the noon break (早退)
    env.clock.at = MONDAY_10.replace(hour=11, minute=30)
    await env.publish(env.event(zz, WindowSignedOut(window_no=2, staff_id="s002")),
                      env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(9)
    await env.app.evaluate()
    [early] = await alerts_of(env, zz, "early_leave", "open")
    assert early["detail"]["window_no"] == 2 and "11:30" in early["message"]
    env.clock.advance(minutes=5)
    await env.publish(env.event(zz, WindowSignedIn(window_no=2, staff_id="s012")),
                      env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(11)
    await env.app.evaluate()
    assert (await alerts_of(env, zz, "early_leave"))[0]["state"] == "resolved"


async def test_daily_and_monthly_reports_rank_the_sites_as_json_and_csv(central_env: CentralEnv) -> None:
    """Two halls' days become the daily report (per site, region total, rankings by satisfaction and by wait) and
    the monthly one (both days summed); the CSV opens in Excel: UTF-8 BOM and Chinese headers."""
    env = central_env
    zz, hn, _ = env.sites
    events = [*served(env, zz, 300, 600), *served(env, zz, 500, 400), *served(env, hn, 100, 200),
              *served(env, hn, 200, 200, days=-1),
              env.event(zz, rating(5)), env.event(zz, rating(2)), env.event(hn, rating(5))]
    await env.publish(*events)
    await env.wait_ingested(len(events))
    r = await env.client.get(f"{PREFIX}/reports/daily", params={"date": "2026-11-23"})
    assert r.status_code == 200, r.text
    rep = r.json()
    sites = {x["site"]: x for x in rep["sites"]}
    assert (sites[zz]["issued"], sites[zz]["served"], sites[zz]["avg_wait_s"]) == (2, 2, 400.0)
    assert sites[zz]["avg_service_s"] == 500.0 and sites[zz]["satisfaction"] == 0.5
    assert (sites[hn]["served"], sites[hn]["avg_wait_s"], sites[hn]["satisfaction"]) == (1, 100.0, 1.0)
    assert rep["region"]["served"] == 3 and rep["region"]["avg_wait_s"] == 300.0
    assert rep["rankings"]["satisfaction"][:2] == [hn, zz] and rep["rankings"]["wait"][:2] == [hn, zz]
    assert sites[hn]["rank_satisfaction"] == 1 and sites[zz]["rank_wait"] == 2
    r = await env.client.get(f"{PREFIX}/reports/daily", params={"date": "2026-11-23", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["大厅编号", "大厅名称", "取号数", "办结数"]
    assert rows[-1][1] == "全区合计" and rows[-1][3] == "3"
    assert [row[1] for row in rows if row[0] == zz] == ["株洲市人社局便民服务大厅"]
    r = await env.client.get(f"{PREFIX}/reports/monthly", params={"month": "2026-11"})
    monthly = {x["site"]: x for x in r.json()["sites"]}
    assert monthly[hn]["served"] == 2 and monthly[hn]["avg_wait_s"] == 150.0
    assert (await env.client.get(f"{PREFIX}/reports/monthly", params={"month": "2026-13"})).status_code == 400
    assert (await env.client.get(f"{PREFIX}/reports/daily", params={"date": "yesterday"})).status_code == 422


async def test_series_by_hour_and_by_day(central_env: CentralEnv) -> None:
    """A site's waits and satisfaction by hour of the day and by day of the month."""
    env = central_env
    zz = env.sites[0]
    events = [*served(env, zz, 120, 60, hours=-1), *served(env, zz, 600, 60), env.event(zz, rating(5))]
    await env.publish(*events)
    await env.wait_ingested(len(events))
    r = await env.client.get(f"{PREFIX}/sites/{zz}/series", params={"day": "2026-11-23"})
    points = {p["hour"]: p for p in r.json()["points"]}
    assert points[9]["avg_wait_s"] == 120.0 and points[10]["avg_wait_s"] == 600.0
    assert points[10]["satisfaction"] == 1.0 and points[11]["served"] == 0
    r = await env.client.get(f"{PREFIX}/sites/{zz}/series", params={"month": "2026-11"})
    days = {p["date"]: p for p in r.json()["points"]}
    assert len(days) == 30 and days["2026-11-23"]["served"] == 2 and days["2026-11-23"]["avg_wait_s"] == 360.0
    assert days["2026-11-22"]["served"] == 0
    r = await env.client.get(f"{PREFIX}/sites/{zz}/series", params={"day": "2026-11-23", "month": "2026-11"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert (await env.client.get(f"{PREFIX}/sites/nosuch-site")).status_code == 404


async def test_the_wall_stream_pushes_an_alert_and_the_site(central_env: CentralEnv) -> None:
    """A wall connected to the stream gets every site, then an ``alert`` event and a ``site`` update when a bad
    rating arrives from a hall."""
    env = central_env
    zz = env.sites[0]
    await env.publish(env.event(zz, WindowSignedIn(window_no=1, staff_id="s001")),
                      env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(2)
    await env.app.evaluate()  # heard from and staffed: green before the rating
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(env.fastapi, host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    events: list[tuple[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client, \
                client.stream("GET", f"{PREFIX}/stream") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.aiter_lines()

            async def next_event() -> tuple[str, Any]:
                name = ""
                async for line in lines:
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        return name, json.loads(line[6:])
                raise AssertionError("stream ended")

            first = await next_event()
            assert first[0] == "sites" and {s["site"] for s in first[1]} >= set(env.sites[:2])
            await env.publish(env.event(zz, rating(1)))
            def seen() -> tuple[list, list]:
                alerts = [d for n, d in events if n == "alert" and d["kind"] == "bad_rating"]
                sites = [d for n, d in events if n == "site" and d["status"] == "yellow"]
                return alerts, sites

            async with asyncio.timeout(10):
                while not all(seen()):
                    events.append(await next_event())
    finally:
        server.should_exit = True
        await serving
    alerts, sites = seen()
    assert alerts[0]["site"] == zz and alerts[0]["state"] == "open"
    assert sites[0]["site"] == zz and any("差评" in r for r in sites[0]["reasons"])
