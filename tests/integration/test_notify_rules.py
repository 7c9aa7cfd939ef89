"""Notify service rules against real NATS and PostgreSQL: rate limits, quiet hours, retries, privacy."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import structlog
from structlog.testing import capture_logs

from services.notify.providers import ProviderError
from tests.harness import Servers
from tests.integration.matters_fixtures import TZ, FakeClock
from tests.integration.notify_fixtures import PHONE, PHONE2, ScriptedProvider, called, issued, ready, start_notify


def sent_all(n: int) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda msgs: len(msgs) == n and all(m["status"] != "pending" for m in msgs)


async def test_per_template_cap_refuses_the_third(servers: Servers, site: str, database_url: str) -> None:
    """With a cap of 2 of one template per phone in 24 h, the third call message fails as rate_limited."""
    async with start_notify(servers, site, database_url, notify_limit_per_template_24h=2) as env:
        tickets = [uuid.uuid4() for _ in range(3)]
        for t in tickets:
            await env.contact(t)
        for k, t in enumerate(tickets):
            await env.publish(called(t, number=f"A00{k}"))
            await env.wait_messages(t, sent_all(1))
        statuses = [(await env.messages(t))[0] for t in tickets]
        assert [m["status"] for m in statuses] == ["sent", "sent", "failed"]
        assert statuses[2]["error_code"] == "rate_limited"
        events = await env.events(expect=3)
        failed = [e for e in events if e.type == "notify.sms.failed"]
        assert len(failed) == 1 and failed[0].data["final"] and failed[0].data["error_code"] == "rate_limited"


async def test_min_interval_defers_the_next_message(servers: Servers, site: str, database_url: str) -> None:
    """A second message to one phone within 30 s waits until 30 s after the first."""
    clock = FakeClock(datetime(2026, 11, 20, 10, 0, tzinfo=TZ))
    async with start_notify(servers, site, database_url, clock=clock, notify_min_interval_s=30.0) as env:
        ticket = uuid.uuid4()
        await env.contact(ticket)
        await env.publish(issued(ticket))
        await env.publish(called(ticket))
        msgs = await env.wait_messages(ticket, lambda m: len(m) == 2 and m[0]["status"] == "sent"
                                       and m[1]["next_attempt_at"] != m[1]["created_at"])
        assert [m["status"] for m in msgs] == ["sent", "pending"]
        assert msgs[1]["next_attempt_at"] == "2026-11-20T10:00:30.000+08:00"
        clock.advance(seconds=30)
        msgs = await env.wait_messages(ticket, sent_all(2))
        assert [m["status"] for m in msgs] == ["sent", "sent"]


async def test_quiet_hours_hold_reminders_not_calls(servers: Servers, site: str, database_url: str) -> None:
    """At 22:30 a pickup reminder waits until 08:00; a call to a window goes at once."""
    clock = FakeClock(datetime(2026, 11, 20, 22, 30, tzinfo=TZ))
    async with start_notify(servers, site, database_url, clock=clock, notify_quiet_start="21:00",
                            notify_quiet_end="08:00") as env:
        ticket, case = uuid.uuid4(), uuid.uuid4()
        await env.contact(ticket)
        await env.contact(case, PHONE2, ref_type="case")
        await env.publish(ready(case, date(2026, 11, 27)))
        await env.publish(called(ticket))
        assert (await env.wait_messages(ticket, sent_all(1)))[0]["status"] == "sent"
        held = await env.wait_messages(
            case, lambda m: bool(m) and m[0]["next_attempt_at"] == "2026-11-21T08:00:00.000+08:00")
        assert held[0]["status"] == "pending" and held[0]["next_attempt_at"] == "2026-11-21T08:00:00.000+08:00"
        clock.set(2026, 11, 21, 8, 0)
        assert (await env.wait_messages(case, sent_all(1)))[0]["status"] == "sent"


async def test_retry_then_success(servers: Servers, site: str, database_url: str) -> None:
    """Two transient provider errors are retried with backoff, then the message is sent (one sent event)."""
    provider = ScriptedProvider([ProviderError("http_503", transient=True), ProviderError("timeout", transient=True)])
    async with start_notify(servers, site, database_url, provider=provider) as env:
        ticket = uuid.uuid4()
        await env.contact(ticket)
        await env.publish(called(ticket))
        msgs = await env.wait_messages(ticket, sent_all(1))
        assert msgs[0]["status"] == "sent" and msgs[0]["attempts"] == 3
        assert len(provider.tries) == 3 and len(provider.sent) == 1
        events = await env.events(expect=3)
        assert [(e.type, e.data["final"]) for e in events] == [
            ("notify.sms.failed", False), ("notify.sms.failed", False), ("notify.sms.sent", True)]


async def test_retry_then_final_failure(servers: Servers, site: str, database_url: str) -> None:
    """A provider that keeps failing is tried max_attempts times, then the failure is final and recorded."""
    provider = ScriptedProvider(always=ProviderError("http_503", transient=True))
    async with start_notify(servers, site, database_url, provider=provider, notify_max_attempts=3) as env:
        ticket = uuid.uuid4()
        await env.contact(ticket)
        await env.publish(called(ticket))
        msgs = await env.wait_messages(ticket, sent_all(1))
        assert msgs[0]["status"] == "failed" and msgs[0]["attempts"] == 3 and msgs[0]["error_code"] == "http_503"
        assert len(provider.tries) == 3
        events = await env.events(expect=3)
        assert [e.data["final"] for e in events] == [False, False, True]
        assert {e.type for e in events} == {"notify.sms.failed"}


async def test_no_phone_in_events_or_logs(servers: Servers, site: str, database_url: str) -> None:
    """No phone number (clear or masked) in any event of the site stream or any log line the service writes."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            provider = ScriptedProvider([ProviderError("http_503", transient=True)])
            async with start_notify(servers, site, database_url, provider=provider) as env:
                ticket, case = uuid.uuid4(), uuid.uuid4()
                await env.contact(ticket, "138 1234 1234")
                await env.contact(case, PHONE2, ref_type="case")
                await env.publish(issued(ticket))
                await env.publish(called(ticket))
                await env.publish(ready(case, date(2026, 3, 5)))
                await env.wait_messages(ticket, sent_all(2))
                await env.wait_messages(case, sent_all(1))
                assert len(await env.events(expect=4)) == 4  # one retry, three sent
                events = await env.events(types=("",))
    finally:
        structlog.configure(**old)
    assert any(e.type == "notify.sms.sent" for e in events)
    assert any(entry["event"] == "sms_sent" for entry in logs)
    digits = re.compile(r"1[3-9]\d{9}")
    for e in events:
        raw = e.to_bytes().decode()
        assert not digits.search(raw) and "****" not in raw and "phone" not in raw, raw
    for entry in logs:
        line = repr(entry)
        assert PHONE not in line and PHONE2 not in line and not digits.search(line) and "****" not in line, line


async def test_retention_forgets_phones(servers: Servers, site: str, database_url: str) -> None:
    """After the retention period the contact is deleted, the sent message keeps no phone, later events send none."""
    clock = FakeClock(datetime(2026, 11, 20, 10, 0, tzinfo=TZ))
    async with start_notify(servers, site, database_url, clock=clock, notify_retention_days=1.0) as env:
        ticket = uuid.uuid4()
        await env.contact(ticket)
        await env.publish(called(ticket))
        assert (await env.wait_messages(ticket, sent_all(1)))[0]["status"] == "sent"
        clock.advance(days=2)
        assert await env.app.sweep() == (1, 1)
        async with env.app.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM messages WHERE phone IS NOT NULL") == 0
            assert await conn.fetchval("SELECT count(*) FROM contacts") == 0
        await env.publish(called(ticket, call_no=1, number="A016"))
        await env.publish(issued(ticket))
        for _ in range(200):  # until the consumer has applied all three events
            async with env.app.pool.acquire() as conn:
                if await conn.fetchval("SELECT count(*) FROM inbox") == 3:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("events not applied")
        assert len(await env.messages(ticket)) == 1
