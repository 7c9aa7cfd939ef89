"""Notify service against real NATS and PostgreSQL: contacts, messages from site events, exactly once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import asyncpg

from services.notify import events
from services.notify.providers import LocalProvider
from shared.events import queue as qev
from tests.harness import Servers
from tests.integration.notify_fixtures import (
    PHONE,
    PHONE2,
    PREFIX,
    HangingProvider,
    called,
    issued,
    missing,
    ready,
    start_notify,
)


async def test_contact_is_sealed_and_masked(servers: Servers, site: str, database_url: str) -> None:
    """A contact answers 201 with the masked phone; bad numbers get 422; the database holds no clear number."""
    async with start_notify(servers, site, database_url) as env:
        ticket = uuid.uuid4()
        answer = await env.contact(ticket, "+86 138-1234-1234")
        assert answer["phone_masked"] == "138****1234" and "phone" not in answer
        for body in ({"ref_type": "ticket", "ref_id": str(ticket), "phone": "12345"},
                     {"ref_type": "ticket", "ref_id": "not-a-uuid", "phone": PHONE},
                     {"ref_type": "visit", "ref_id": str(ticket), "phone": PHONE}):
            r = await env.client.post(f"{PREFIX}/contacts", json=body)
            assert r.status_code == 422, r.text
            assert r.json()["message"]
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT phone, phone_hash FROM contacts")
    finally:
        await conn.close()
    assert len(rows) == 1
    assert PHONE.encode() not in bytes(rows[0]["phone"]) + bytes(rows[0]["phone_hash"])


async def test_events_become_messages_once_across_redelivery(servers: Servers, site: str, database_url: str) -> None:
    """Issued, called (redelivered twice), missing materials and pickup each give one message; no contact, none."""
    provider = LocalProvider()
    async with start_notify(servers, site, database_url, provider=provider) as env:
        ticket, other, case = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await env.contact(ticket)
        await env.contact(ticket, PHONE)  # the same phone twice: still one message per event
        await env.contact(case, PHONE2, ref_type="case")
        await env.publish(issued(ticket))
        call = await env.publish(called(ticket))
        await env.publish(call, msg_id=f"{site}:again-1")  # past the stream's de-dup: a redelivery
        await env.publish(called(ticket, call_no=2))  # a recall sends no SMS
        await env.publish(called(other))  # nobody registered for it
        await env.publish(missing(case))
        await env.publish(ready(case, date(2026, 3, 5)))
        msgs = await env.wait_messages(ticket, lambda m: len(m) == 2 and all(x["status"] == "sent" for x in m))
        assert [m["template"] for m in msgs] == ["ticket_issued", "ticket_called"]
        assert msgs[1]["text"] == "【测试大厅】请A015号到3号窗口办理。" and msgs[1]["parts"] == 1
        assert msgs[0]["text"] == "【测试大厅】您已取号A015，前面还有4人，预计等候约11分钟，请留意叫号。"
        assert {m["phone_masked"] for m in msgs} == {"138****1234"}
        case_msgs = await env.wait_messages(case, lambda m: len(m) == 2 and all(x["status"] == "sent" for x in m))
        assert [m["template"] for m in case_msgs] == ["materials_missing", "ready_for_pickup"]
        assert case_msgs[1]["text"] == "【测试大厅】您办理的事项已办结，请您于3月5日前到测试大厅领取证照。"
        # the same event applied again (a restart between effect and ack) adds nothing either
        async with env.app.pool.acquire() as conn, conn.transaction():
            await events.handlers(env.app)[qev.TicketCalled](conn, call, call.typed())
        await env.publish(call, msg_id=f"{site}:again-2")
        await asyncio.sleep(0.5)
        assert len(await env.messages(ticket)) == 2
        assert await env.messages(other) == []
        assert len(provider.sent) == 4
        sent = await env.events(expect=4)
        assert sorted(e.type for e in sent) == ["notify.sms.sent"] * 4
        assert {e.data["ref_id"] for e in sent} == {str(ticket), str(case)}


async def test_restart_in_the_middle_of_a_send_sends_once(servers: Servers, site: str, database_url: str) -> None:
    """A process stopped while the provider holds the message leaves it pending; the restart sends it once."""
    hanging = HangingProvider()
    ticket = uuid.uuid4()
    async with start_notify(servers, site, database_url, provider=hanging) as env:
        await env.contact(ticket)
        call = await env.publish(called(ticket))
        await asyncio.wait_for(hanging.entered.wait(), 10)
    local = LocalProvider()
    async with start_notify(servers, site, database_url, provider=local) as env:
        await env.publish(call, msg_id=f"{site}:after-restart")  # and the event comes again
        msgs = await env.wait_messages(ticket, lambda m: bool(m) and m[0]["status"] == "sent")
        await asyncio.sleep(0.3)
        msgs = await env.messages(ticket)
        assert len(msgs) == 1 and msgs[0]["status"] == "sent" and msgs[0]["attempts"] == 1
        assert len(hanging.tries) == 1 and len(local.sent) == 1
        # the retry carries the same message id: a provider de-duplicating by it sends one SMS
        assert hanging.tries[0].message_id == next(iter(local.sent)) == uuid.UUID(msgs[0]["id"])
        assert [e.type for e in await env.events(expect=1)] == ["notify.sms.sent"]
