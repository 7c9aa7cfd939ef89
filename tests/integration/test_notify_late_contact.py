"""A phone registered just after its event (the kiosk registers it once the ticket exists) still gets the
"ticket issued" and "materials missing" SMS, once; never a stale "you are called"."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.harness import Servers
from tests.integration.notify_fixtures import PHONE, PHONE2, called, issued, missing, start_notify


async def _held(database_url: str, ref_id: uuid.UUID, timeout_s: float = 10.0) -> int:
    """Wait until the consumer has held an SMS for ``ref_id`` (its event applied with no contact yet)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        conn = await asyncpg.connect(database_url)
        try:
            n = await conn.fetchval("SELECT count(*) FROM unclaimed WHERE ref_id = $1", str(ref_id))
        finally:
            await conn.close()
        if n or asyncio.get_running_loop().time() > deadline:
            return int(n)
        await asyncio.sleep(0.1)


async def test_phone_registered_after_the_ticket_still_gets_the_issued_sms_once(
        servers: Servers, site: str, database_url: str) -> None:
    """Issued and called before the phone arrives: the issued SMS goes out once, the called one never."""
    async with start_notify(servers, site, database_url) as env:
        ticket, case = uuid.uuid4(), uuid.uuid4()
        await env.publish(issued(ticket))
        await env.publish(called(ticket))
        await env.publish(missing(case))
        assert await _held(database_url, ticket) == 1  # the called SMS is not held: stale by then
        assert await _held(database_url, case) == 1
        await env.contact(ticket)
        await env.contact(ticket)  # registered twice: still one message
        await env.contact(case, PHONE2, ref_type="case")
        msgs = await env.wait_messages(ticket, lambda m: len(m) == 1 and m[0]["status"] == "sent")
        assert [m["template"] for m in msgs] == ["ticket_issued"]
        assert "您已取号A015" in msgs[0]["text"]
        case_msgs = await env.wait_messages(case, lambda m: len(m) == 1 and m[0]["status"] == "sent")
        assert [m["template"] for m in case_msgs] == ["materials_missing"]
        await asyncio.sleep(0.3)
        assert len(await env.messages(ticket)) == 1


async def test_a_phone_registered_too_late_gets_no_old_news(servers: Servers, site: str, database_url: str) -> None:
    """With the late-contact window at 0 s, a phone registered after the issued event gets nothing for it."""
    async with start_notify(servers, site, database_url, notify_late_contact_s=0) as env:
        ticket = uuid.uuid4()
        await env.publish(issued(ticket))
        assert await _held(database_url, ticket) == 1
        await asyncio.sleep(0.05)
        await env.contact(ticket, PHONE)
        await asyncio.sleep(0.5)
        assert await env.messages(ticket) == []
