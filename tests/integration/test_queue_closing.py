"""Closing time (闭厅) at the site, against real NATS and PostgreSQL: tickets still in line when the last session
ends are cancelled at once as ``closed_unserved`` (those at a window stay, those of an earlier day stay
``day_closed``), and a clerk signing out while people issued before closing still wait is warned (不接待完最后一位
群众不下班)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from services.queue.board import close_past_days, close_unserved
from tests.integration.conftest import QueueEnv

API = "/queue/api/v1"


def set_clock(env: QueueEnv, at: datetime) -> None:
    env.app.ctx._clock = lambda: at


def today_at(env: QueueEnv, hh: int, mm: int) -> datetime:
    return datetime.combine(datetime.now(env.settings.tz).date(), time(hh, mm), env.settings.tz)


async def test_waiting_tickets_are_turned_away_at_closing(queue_env: QueueEnv) -> None:
    """At 17:30 (the test site's last session end) a waiting ticket is cancelled closed_unserved at once; the one at a
    window stays; one issued after closing (office hours not enforced) stays; the next day the sweep of leftovers
    says day_closed."""
    env = queue_env
    set_clock(env, today_at(env, 10, 0))
    left = await env.issue()
    called = await env.issue()
    h = await env.sign_in(1)
    r = await env.client.post(f"{API}/windows/1/call-next", headers=h)
    assert r.status_code == 200 and r.json()["id"] == left["id"]  # the first in line is at the window
    set_clock(env, today_at(env, 17, 29))
    assert await close_unserved(env.app.ctx) == 0  # not yet closed
    set_clock(env, today_at(env, 17, 31))
    late = await env.issue()
    assert await close_unserved(env.app.ctx) == 1
    assert (await env.client.get(f"{API}/tickets/{called['id']}")).json()["status"] == "cancelled"
    assert (await env.client.get(f"{API}/tickets/{left['id']}")).json()["status"] == "called"
    assert (await env.client.get(f"{API}/tickets/{late['id']}")).json()["status"] == "waiting"
    assert await close_unserved(env.app.ctx) == 0  # once
    set_clock(env, today_at(env, 9, 0) + timedelta(days=1))
    assert await close_past_days(env.app.ctx) == 2
    cancels = await env.events(expect=3, types=("queue.ticket.cancelled",))
    assert sorted((str(e.data["ticket_id"]), e.data["reason"]) for e in cancels) == sorted(
        [(called["id"], "closed_unserved"), (left["id"], "day_closed"), (late["id"], "day_closed")])


async def test_signing_out_while_people_wait_is_warned(queue_env: QueueEnv) -> None:
    """Window 1 (A, B) cannot sign out with an A ticket waiting: 409 StillWaiting naming 1 person, signed out with
    confirm: true and the event carries waiting_left, which the duty manager's board shows; window 3 with nobody
    waiting for its queues signs out at once."""
    env = queue_env
    set_clock(env, today_at(env, 11, 0))
    await env.issue()
    h1 = await env.sign_in(1)
    r = await env.client.post(f"{API}/windows/1/sign-out", headers=h1)
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "StillWaiting" and body["detail"]["waiting"] == 1
    assert body["message"].startswith("还有 1 位群众")
    r = await env.client.post(f"{API}/windows/1/sign-out", headers=h1, json={"confirm": True})
    assert r.status_code == 200 and r.json()["waiting_left"] == 1
    h3 = await env.sign_in(3)
    r = await env.client.post(f"{API}/windows/3/call-next", headers=h3)
    assert r.status_code == 200  # window 3 serves A too: it takes the ticket
    await env.client.post(f"{API}/tickets/{r.json()['id']}/complete", headers=h3)
    r = await env.client.post(f"{API}/windows/3/sign-out", headers=h3)
    assert r.status_code == 200 and r.json()["waiting_left"] == 0
    outs = [e.data for e in await env.events(expect=2, types=("queue.window.signed_out",))]
    assert [(o["window_no"], o["waiting_left"]) for o in outs] == [(1, 1), (3, 0)]
    # the duty manager's board shows who left window 1 with people waiting, and nothing for window 3
    windows = {w["no"]: w for w in (await env.client.get(f"{API}/board")).json()["windows"]}
    assert windows[1]["left_waiting"]["count"] == 1 and windows[1]["left_waiting"]["staff_id"] == "s001"
    assert windows[3]["left_waiting"] is None
