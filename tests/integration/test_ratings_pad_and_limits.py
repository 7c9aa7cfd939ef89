"""Ratings service against real NATS and PostgreSQL: a window's pad rates only its window's latest fresh
service, ``ratings.invitation.opened`` for the SMS link, the phone page's invitation answer, and abuse
rate-limited with 429 + Retry-After."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.events.matters import CaseAccepted, CaseCompleted
from tests.harness import Servers
from tests.integration.ratings_fixtures import PREFIX, start_ratings

PAD_REFUSAL = "该评价器只能评价本窗口刚办结的业务"


async def test_pad_rates_only_its_windows_latest_service_and_phones_any(
        servers: Servers, site: str, database_url: str) -> None:
    """Window 2's pad cannot rate window 2's earlier service nor window 3's; it rates its latest one; the
    earlier one is still rated from a phone (no channel: the contract body)."""
    async with start_ratings(servers, site, database_url) as env:
        first = await env.invitation(2, await env.complete_ticket(window_no=2))
        latest = await env.invitation(2, await env.complete_ticket(window_no=2))
        other = await env.invitation(3, await env.complete_ticket(window_no=3))

        r = await env.rate(first["id"], {"level": 5, "channel": "pad", "window_no": 2})
        assert r.status_code == 409 and PAD_REFUSAL in r.json()["message"], r.text
        r = await env.rate(other["id"], {"level": 5, "channel": "pad", "window_no": 2})
        assert r.status_code == 409 and PAD_REFUSAL in r.json()["message"], r.text
        r = await env.rate(latest["id"], {"level": 5, "channel": "pad"})
        assert r.status_code == 422 and "window_no" in r.json()["message"], r.text
        assert await env.app.pool.fetchval("SELECT count(*) FROM ratings") == 0

        r = await env.rate(latest["id"], {"level": 4, "channel": "pad", "window_no": 2})
        assert r.status_code == 201 and r.json()["window_no"] == 2, r.text
        r = await env.rate(first["id"], {"level": 5})  # from the phone link
        assert r.status_code == 201, r.text
        r = await env.rate(other["id"], {"level": 5, "channel": "sms"})
        assert r.status_code == 201, r.text
        assert (await env.verify())["ok"]


async def test_pad_refuses_a_service_completed_longer_ago_than_the_setting(
        servers: Servers, site: str, database_url: str) -> None:
    """After ``ratings_invitation_minutes`` the pad is refused even for its window's latest service; the phone
    link still works until expiry, and not after it."""
    async with start_ratings(servers, site, database_url, ratings_invitation_minutes=5,
                             ratings_expiry_s=3600) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        env.clock.advance(minutes=6)
        r = await env.rate(inv["id"], {"level": 5, "channel": "pad", "window_no": 1})
        assert r.status_code == 409 and "超过 5 分钟" in r.json()["message"], r.text
        assert r.json()["error"] == "NotThisPad"
        env.clock.advance(hours=1)
        r = await env.rate(inv["id"], {"level": 5, "channel": "web"})
        assert r.status_code == 409 and "过期" in r.json()["message"], r.text
        assert await env.app.pool.fetchval("SELECT count(*) FROM ratings") == 0


async def test_invitation_opened_event_and_phone_page_answer(servers: Servers, site: str, database_url: str
                                                             ) -> None:
    """Every new invitation (ticket or case) emits one ratings.invitation.opened without personal data; the
    invitation answer carries scale, levels, indicators, reason tags and a status open → rated / expired."""
    async with start_ratings(servers, site, database_url, ratings_expiry_s=3600) as env:
        ticket = await env.complete_ticket(window_no=4, staff_id="s004", matter_id="yl-txsq")
        inv = await env.invitation(4, ticket)
        case_id = uuid.uuid4()
        await env.publish(CaseAccepted(case_id=case_id, matter_id="gs-rdsq", kind="promised", window_no=6,
                                       staff_id="s006", time_limit_days=10, due_at=None))
        await env.publish(CaseCompleted(case_id=case_id, result="approved", working_days_used=3, overdue=False))
        opened = await env.events(expect=2, types=("ratings.invitation.",))
        assert [e.type for e in opened] == ["ratings.invitation.opened"] * 2
        by_subject = {e.data["subject"]: e.data for e in opened}
        assert by_subject["ticket"] == {"invitation_id": inv["id"], "subject": "ticket", "subject_id": str(ticket),
                                        "window_no": 4, "matter_id": "yl-txsq",
                                        "expires_at": by_subject["ticket"]["expires_at"]}
        assert by_subject["case"]["subject_id"] == str(case_id) and by_subject["case"]["window_no"] == 6
        assert by_subject["case"]["matter_id"] == "gs-rdsq" and by_subject["case"]["expires_at"]

        page = (await env.client.get(f"{PREFIX}/invitations/{inv['id']}")).json()
        assert page["status"] == "open" and page["subject"] == "ticket" and page["scale"] == "national5"
        assert [lv["label"] for lv in page["levels"]][0] == "非常满意"
        assert {i["key"] for i in page["indicators"]} == {"efficiency", "skill", "attitude"}
        assert page["reasons"] and page["bad_max"] == 2
        assert (await env.rate(inv["id"], {"level": 5})).status_code == 201
        assert (await env.client.get(f"{PREFIX}/invitations/{inv['id']}")).json()["status"] == "rated"
        case_inv = by_subject["case"]["invitation_id"]
        env.clock.advance(hours=2)
        assert (await env.client.get(f"{PREFIX}/invitations/{case_inv}")).json()["status"] == "expired"


async def test_hammering_submissions_gets_429_and_another_address_is_unaffected(
        servers: Servers, site: str, database_url: str) -> None:
    """Five attempts a minute per address: the legitimate rating passes, the sixth attempt is 429 with a
    Retry-After and a bilingual message; a citizen on another address still rates."""
    async with start_ratings(servers, site, database_url, ratings_submit_per_ip_per_min=5) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        other = await env.invitation(2, await env.complete_ticket(window_no=2))
        codes = [(await env.rate(inv["id"], {"level": 5})).status_code for _ in range(5)]
        assert codes == [201, 409, 409, 409, 409]
        r = await env.rate(other["id"], {"level": 5})
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        body: dict[str, Any] = r.json()
        assert body["error"] == "too_many_requests" and "评价提交过于频繁" in body["message"]
        assert "too many" in body["message"] and body["detail"]["limit"] == "per_ip"
        async with env.client_from("10.1.2.3") as neighbour:
            r = await neighbour.post(f"{PREFIX}/invitations/{other['id']}/rating", json={"level": 4})
            assert r.status_code == 201, r.text
        assert await env.app.pool.fetchval("SELECT count(*) FROM ratings") == 2


async def test_one_invitation_hammered_from_many_addresses_is_limited(
        servers: Servers, site: str, database_url: str) -> None:
    """Attempts on one invitation from ever new addresses are limited per invitation too (429); other
    invitations are unaffected."""
    async with start_ratings(servers, site, database_url, ratings_submit_per_invitation_per_min=3) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        other = await env.invitation(2, await env.complete_ticket(window_no=2))
        codes = []
        for i in range(4):
            async with env.client_from(f"10.9.0.{i}") as c:
                codes.append((await c.post(f"{PREFIX}/invitations/{inv['id']}/rating", json={"level": 1})
                              ).status_code)
        assert codes == [201, 409, 409, 429]
        assert (await env.rate(other["id"], {"level": 5})).status_code == 201


async def test_enumerating_invitation_ids_is_limited_per_address(
        servers: Servers, site: str, database_url: str) -> None:
    """Guessing invitation ids: after the lookup limit the address gets 429 (not more 404s); another address
    still reads its own invitation."""
    async with start_ratings(servers, site, database_url, ratings_lookup_per_ip_per_min=5) as env:
        inv = await env.invitation(1, await env.complete_ticket(window_no=1))
        codes = await asyncio.gather(*(env.client.get(f"{PREFIX}/invitations/{uuid.uuid4()}") for _ in range(8)))
        assert sorted(r.status_code for r in codes) == [404] * 5 + [429] * 3
        limited = next(r for r in codes if r.status_code == 429)
        assert "查询过于频繁" in limited.json()["message"] and limited.headers["Retry-After"]
        async with env.client_from("10.1.2.4") as phone:
            r = await phone.get(f"{PREFIX}/invitations/{inv['id']}")
            assert r.status_code == 200 and r.json()["status"] == "open"
