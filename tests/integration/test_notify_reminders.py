"""Turn approaching (with the REAL queue service), the not-yet-collected reminder, the rating invitation link and
the staff token on the messages API, against real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.notify import reminders
from shared.events import matters as mev
from shared.events import ratings as rev
from shared.events.base import make_event
from tests.harness import Servers
from tests.integration.conftest import QueueEnv
from tests.integration.matters_fixtures import TZ, FakeClock, own_database
from tests.integration.notify_fixtures import PHONE, PHONE2, notify_settings, ready, staff_token, start_notify

PREFIX = "/notify/api/v1"


def of(template: str, msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["template"] == template]


async def test_turn_approaching_once_when_three_ahead(queue_env: QueueEnv, servers: Servers, site: str) -> None:
    """With the real queue service: A006's holder gets one "快到您了" SMS when 3 are left ahead, not at 4 nor
    again at 2; A003, issued with 2 ahead, gets none."""
    tickets = [await queue_env.issue("yl-txsq") for _ in range(6)]
    a003, a006 = uuid.UUID(tickets[2]["id"]), uuid.UUID(tickets[5]["id"])
    transport = httpx.ASGITransport(app=queue_env.fastapi)
    async with own_database(servers, f"test_{site}_notify") as db, start_notify(
            servers, site, db, queue_transport=transport, queue_url="http://queue.test",
            notify_approach_poll_s=0.2) as env:
        await env.contact(a006)
        await env.contact(a003, PHONE2)
        w1, w3 = await queue_env.sign_in(1), await queue_env.sign_in(3)
        r = await queue_env.client.post("/queue/api/v1/windows/1/call-next", headers=w1)
        assert r.json()["number"] == "A001"
        await asyncio.sleep(1.0)  # several looks at A006 (4 ahead): nothing yet
        assert of("turn_approaching", await env.messages(a006)) == []
        r = await queue_env.client.post("/queue/api/v1/windows/3/call-next", headers=w3)
        assert r.json()["number"] == "A002"
        msgs = await env.wait_messages(a006, lambda m: any(x["template"] == "turn_approaching"
                                                           and x["status"] == "sent" for x in m))
        for action in ("start", "complete"):
            r = await queue_env.client.post(f"/queue/api/v1/tickets/{tickets[0]['id']}/{action}", headers=w1)
            assert r.status_code == 200, r.text
        r = await queue_env.client.post("/queue/api/v1/windows/1/call-next", headers=w1)
        assert r.json()["number"] == "A003"
        await asyncio.sleep(1.0)  # A006 now has 2 ahead: still the one message
        later = await env.messages(a006)
        a003_msgs = await env.messages(a003)
    approaching = of("turn_approaching", msgs)
    assert len(approaching) == 1
    assert approaching[0]["text"] == "【测试大厅】快到您了：A006号前面还有3人，请到等候区留意叫号。"
    assert len(of("turn_approaching", later)) == 1
    assert of("turn_approaching", a003_msgs) == []


async def test_pickup_reminder_after_three_working_days(servers: Servers, site: str, database_url: str) -> None:
    """A case ready on Friday and not collected is reminded once on Wednesday (3rd working day after), at 22:00
    held until 08:00; a case picked up in time is not reminded."""
    clock = FakeClock(datetime(2026, 11, 20, 10, 0, tzinfo=TZ))  # a Friday
    async with start_notify(servers, site, database_url, clock=clock, notify_quiet_start="21:00",
                            notify_quiet_end="08:00", notify_reminder_sweep_s=3600.0) as env:
        waiting, collected = uuid.uuid4(), uuid.uuid4()
        await env.contact(waiting, ref_type="case")
        await env.contact(collected, PHONE2, ref_type="case")
        for case in (waiting, collected):
            await env.publish(make_event(env.settings.site, ready(case), occurred_at=clock()))
        await env.wait_messages(waiting, lambda m: len(m) == 1 and m[0]["status"] == "sent")
        await env.wait_messages(collected, lambda m: len(m) == 1 and m[0]["status"] == "sent")
        await env.publish(make_event(env.settings.site, mev.CasePickedUp(case_id=collected),
                                     occurred_at=clock() + timedelta(days=1)))
        await asyncio.sleep(0.5)  # the picked_up event is applied
        clock.set(2026, 11, 25, 9, 59)
        assert await reminders.remind_pickups(env.app) == 0  # not yet: 3 working days after Friday is Wednesday 10:00
        clock.set(2026, 11, 25, 22, 0)
        assert await reminders.remind_pickups(env.app) == 1
        assert await reminders.remind_pickups(env.app) == 0  # once
        held = await env.wait_messages(waiting, lambda m: len(m) == 2 and m[1]["next_attempt_at"]
                                       == "2026-11-26T08:00:00.000+08:00")
        clock.set(2026, 11, 26, 8, 0)
        sent = await env.wait_messages(waiting, lambda m: len(m) == 2 and m[1]["status"] == "sent")
        collected_msgs = await env.messages(collected)
    assert held[1]["template"] == "pickup_reminder" and held[1]["status"] == "pending"
    assert sent[1]["text"] == "【测试大厅】您办理的事项已办结3个工作日，证照尚未领取，请您在工作日来领取。"
    assert [m["template"] for m in collected_msgs] == ["ready_for_pickup_any_day"]


async def test_rating_invitation_link(servers: Servers, site: str, database_url: str) -> None:
    """ratings.invitation.opened for a ticket with a contact sends the link <public URL>/r/<id>, once, after quiet
    hours; a subject without a contact gets nothing."""
    clock = FakeClock(datetime(2026, 11, 20, 21, 30, tzinfo=TZ))
    async with start_notify(servers, site, database_url, clock=clock, notify_quiet_start="21:00",
                            notify_quiet_end="08:00", public_url="https://zz.example.cn/") as env:
        ticket, nobody = uuid.uuid4(), uuid.uuid4()
        await env.contact(ticket)
        invitation = uuid.uuid4()
        opened = rev.InvitationOpened(invitation_id=invitation, subject="ticket", subject_id=ticket, window_no=3,
                                      matter_id="yl-txsq", expires_at=clock() + timedelta(days=1))
        env_ = await env.publish(opened)
        await env.publish(env_, msg_id="redelivered-" + str(env_.id))  # the same event again
        await env.publish(rev.InvitationOpened(invitation_id=uuid.uuid4(), subject="ticket", subject_id=nobody,
                                               window_no=3, matter_id=None, expires_at=clock()))
        held = await env.wait_messages(ticket, lambda m: bool(m) and m[0]["next_attempt_at"]
                                       == "2026-11-21T08:00:00.000+08:00")
        clock.set(2026, 11, 21, 8, 0)
        sent = await env.wait_messages(ticket, lambda m: bool(m) and m[0]["status"] == "sent")
        await asyncio.sleep(0.3)
        again = await env.messages(ticket)
        none = await env.messages(nobody)
    assert held[0]["status"] == "pending" and held[0]["template"] == "rating_invite"
    assert sent[0]["text"] == f"【测试大厅】请您对本次服务评价：https://zz.example.cn/r/{invitation}"
    assert len(again) == 1 and none == []


async def test_messages_need_a_staff_token_of_this_site(servers: Servers, site: str, database_url: str) -> None:
    """GET /messages: 401 without a token or with a forged one, 403 with another site's, 200 for a clerk or a
    manager of this site; the page is served and asks for the token."""
    async with start_notify(servers, site, database_url) as env:
        ref = uuid.uuid4()
        await env.contact(ref)
        url = f"{PREFIX}/messages"
        # the same in-process app, without the client's token
        bare = httpx.AsyncClient(transport=env.client._transport, base_url="http://notify.test")
        async with bare:
            missing = await bare.get(url, params={"ref_id": str(ref)})
            forged = await bare.get(url, headers={"Authorization": f"Bearer {staff_token('guess', site)}"})
            other = await bare.get(url, headers={"Authorization": "Bearer " + staff_token("other", "zz-other")})
            manager = await bare.get(url, headers={
                "Authorization": f"Bearer {staff_token(env.settings.token_secret, site, role='manager')}"})
            page = await bare.get(f"{PREFIX}/page")
    assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
    assert forged.status_code == 401
    assert other.status_code == 403 and other.json()["error"] == "forbidden"
    assert manager.status_code == 200 and isinstance(manager.json(), list)
    assert page.status_code == 200 and "登录令牌" in page.text and PHONE not in page.text


def test_rating_link_defaults_to_the_stack_gateway() -> None:
    """Without HALLNET_PUBLIC_URL the link points at the site gateway of ``hallnet up`` (port base + 5)."""
    settings = notify_settings("zz-a", "postgresql://127.0.0.1/x", "nats://127.0.0.1:1", http_port=8114)
    assert settings.public_base_url == "http://127.0.0.1:8116"
    assert notify_settings("zz-a", "postgresql://127.0.0.1/x", "nats://127.0.0.1:1",
                           public_url="https://hall.example.cn/").public_base_url == "https://hall.example.cn"
