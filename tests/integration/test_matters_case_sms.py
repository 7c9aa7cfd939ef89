"""A case's SMS end to end, with the REAL matters and notify services of one site on real NATS and PostgreSQL: the
applicant's phone given at the window reaches notify over core NATS (svc.<site>.notify.contacts, never the
stream), also when notify is down at acceptance; from it the 一次性告知 SMS, the pickup SMS that says 领取 (item,
place, date), the pickup reminder and the 一事一评 link go out, each once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.notify import reminders
from shared.events import ratings as rev
from tests.harness import Servers
from tests.integration.matters_fixtures import (
    APPLICANTS,
    TZ,
    FakeClock,
    matters_site_config,
    own_database,
    required_materials,
    start_matters,
)
from tests.integration.notify_fixtures import NotifyEnv, start_notify
from tests.integration.test_matters_privacy import _raw_stream, every_log_line

PHONE = APPLICANTS[0]["phone"]  # 13812341234
PLACE = "一楼社保卡窗口"


def seed(tmp_path: Path, site: str) -> None:
    """The test site's file, with a pickup place (领取地点) for the pickup SMS."""
    cfg = {**matters_site_config(site), "pickup_place": PLACE}
    (tmp_path / "site.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")


async def handovers(database_url: str) -> list[asyncpg.Record]:
    """The phones matters still has to hand to notify."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch("SELECT case_id, attempts, refused, last_error FROM contact_handover")
    finally:
        await conn.close()


async def until(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll an async check until it answers something true (or the time is up: the last answer)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        got = await check()
        if got or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


def sent(template: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda msgs: any(m["template"] == template and m["status"] == "sent" for m in msgs)


@contextlib.asynccontextmanager
async def notify_of(servers: Servers, site: str, **kw: Any) -> AsyncIterator[NotifyEnv]:
    """The site's notify service, with a database of its own."""
    async with own_database(servers, f"test_{site}_notify") as db, start_notify(servers, site, db, **kw) as env:
        yield env


async def test_the_case_phone_reaches_notify_and_the_pickup_sms_says_where_and_until_when(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """A 社会保障卡补换 with a phone: notify gets the phone over NATS (not the stream), and at ready-for-pickup
    the citizen gets one SMS: 请您于8月12日前到一楼社保卡窗口领取社会保障卡; no number in any event or log line."""
    seed(tmp_path, site)
    with every_log_line() as lines:
        async with notify_of(servers, site) as notify, start_matters(
                servers, site, database_url, tmp_path, matters_contacts_interval_s=0.2) as matters:
            case_id = (await matters.accept("kk-bhk"))["id"]
            assert await until(lambda: _none_waiting(database_url))
            case = await matters.act(case_id, "ready-for-pickup")
            msgs = await notify.wait_messages(uuid.UUID(case_id), sent("ready_for_pickup"))
            await asyncio.sleep(0.5)  # anything twice would be there by now
            again = await notify.messages(uuid.UUID(case_id))
    events = await _raw_stream(servers.nats_url, site)
    assert case["pickup_by"] == "2026-08-12"  # 180 days held (catalog: pickup.hold_days)
    assert [(m["template"], m["status"], m["phone_masked"]) for m in msgs] == [
        ("ready_for_pickup", "sent", "138****1234")]
    assert msgs[0]["text"] == f"【测试大厅】您办理的事项已办结，请您于8月12日前到{PLACE}领取社会保障卡。"
    assert len(again) == 1
    assert any('"matters.case.ready_for_pickup"' in e for e in events)
    assert any("contact_handed_over" in x for x in lines) and any("contact_registered" in x for x in lines)
    assert not [e for e in events if PHONE in e], "the phone in an event"
    assert not [x for x in lines if PHONE in x], "the phone in a log line"


async def _none_waiting(database_url: str) -> bool:
    return not await handovers(database_url)


async def test_a_phone_taken_while_notify_is_down_arrives_when_it_starts(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """Notify stopped while two cases are accepted (one complete, one missing materials): their phones wait in
    matters; when notify starts they arrive, and the 一次性告知 SMS and later the pickup SMS go out once each."""
    seed(tmp_path, site)
    async with start_matters(servers, site, database_url, tmp_path, matters_contacts_interval_s=0.2) as matters:
        card = (await matters.accept("kk-bhk"))["id"]
        refused = (await matters.accept("yl-txsq", provided=["id_card"], expect=422))["id"]
        waiting = await until(lambda: _tried(database_url, 2))
        assert {str(r["case_id"]) for r in waiting} == {card, refused}
        # nobody answers svc.<site>.notify.contacts: each round stops at the first, the rest wait their turn
        assert {r["last_error"] for r in waiting} == {"NoRespondersError", None}
        async with notify_of(servers, site) as notify:
            assert await until(lambda: _none_waiting(database_url))
            notice = await notify.wait_messages(uuid.UUID(refused), sent("materials_missing"))
            await matters.act(card, "ready-for-pickup")
            pickup = await notify.wait_messages(uuid.UUID(card), sent("ready_for_pickup"))
            await asyncio.sleep(0.5)
            notice, pickup = await notify.messages(uuid.UUID(refused)), await notify.messages(uuid.UUID(card))
    assert [m["template"] for m in notice] == ["materials_missing"]
    assert notice[0]["text"] == "【测试大厅】您申请的事项尚缺4项材料，请按一次性告知单补齐后再来办理。"
    assert [m["template"] for m in pickup] == ["ready_for_pickup"]


async def _tried(database_url: str, rows: int) -> list[asyncpg.Record]:
    """The waiting handovers once there are ``rows`` of them and the oldest has been tried (and failed)."""
    got = await handovers(database_url)
    return got if len(got) == rows and any(r["attempts"] >= 1 for r in got) else []


async def test_the_notice_sms_reaches_a_phone_that_arrives_after_its_event(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """The materials-missing event applied by notify before the phone came (held for it): the phone's arrival
    sends the 一次性告知 SMS, once, also when the phone is handed over twice."""
    seed(tmp_path, site)
    async with start_matters(servers, site, database_url, tmp_path, matters_contacts_interval_s=3600) as matters:
        refused = (await matters.accept("yl-txsq", provided=["id_card"], expect=422))["id"]
        assert await until(lambda: _tried(database_url, 1))  # notify down: the first try failed
        async with notify_of(servers, site) as notify:
            assert await until(lambda: _held(notify, refused))  # the event is there first, the phone not yet
            assert await notify.messages(uuid.UUID(refused)) == []
            matters.app.contacts_waiting.set()  # the handover's next round
            msgs = await notify.wait_messages(uuid.UUID(refused), sent("materials_missing"))
            await notify.contact(uuid.UUID(refused), PHONE, ref_type="case")  # the same phone again
            await asyncio.sleep(0.5)
            again = await notify.messages(uuid.UUID(refused))
    assert [m["template"] for m in msgs] == ["materials_missing"] and len(again) == 1


async def _held(notify: NotifyEnv, case_id: str) -> bool:
    async with notify.app.pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT count(*) FROM unclaimed WHERE ref_id = $1", case_id))


async def test_pickup_reminder_after_three_working_days_for_a_case_phone(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """A card ready on Friday 2026-11-20 and not collected: the phone that came from matters gets one 领取提醒 on
    Wednesday (the 3rd working day after), none before."""
    seed(tmp_path, site)
    clock = FakeClock(datetime(2026, 11, 20, 10, 0, tzinfo=TZ))  # both services' test clock
    async with notify_of(servers, site, clock=clock, notify_reminder_sweep_s=3600.0) as notify, start_matters(
            servers, site, database_url, tmp_path, clock=clock, matters_contacts_interval_s=0.2) as matters:
        case_id = (await matters.accept("kk-bhk"))["id"]
        assert await until(lambda: _none_waiting(database_url))
        await matters.act(case_id, "ready-for-pickup")
        await notify.wait_messages(uuid.UUID(case_id), sent("ready_for_pickup"))
        clock.set(2026, 11, 25, 9, 59)
        assert await reminders.remind_pickups(notify.app) == 0
        clock.set(2026, 11, 25, 10, 0)
        assert await reminders.remind_pickups(notify.app) == 1
        assert await reminders.remind_pickups(notify.app) == 0
        msgs = await notify.wait_messages(uuid.UUID(case_id), sent("pickup_reminder"))
    assert [m["template"] for m in msgs] == ["ready_for_pickup", "pickup_reminder"]
    assert msgs[1]["text"] == "【测试大厅】您办理的事项已办结3个工作日，证照尚未领取，请您在工作日来领取。"
    assert msgs[1]["phone_masked"] == "138****1234"


async def test_the_rating_link_of_a_case_invitation_reaches_the_case_phone(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """ratings.invitation.opened for a finished promised case (一事一评) texts its phone the link, once, also when
    the invitation comes before the phone."""
    seed(tmp_path, site)
    async with start_matters(servers, site, database_url, tmp_path, matters_contacts_interval_s=3600) as matters:
        early = (await matters.accept("jy-knrd", provided=required_materials("jy-knrd")))["id"]
        assert await until(lambda: _tried(database_url, 1))  # notify down: this phone waits in matters
        async with notify_of(servers, site, public_url="https://zz.example.cn") as notify:
            first = await notify.publish(invitation_opened(early))
            assert await until(lambda: _held(notify, early))  # the link waits for the phone
            matters.app.contacts_waiting.set()
            early_msgs = await notify.wait_messages(uuid.UUID(early), sent("rating_invite"))
            later = (await matters.accept("jy-knrd", applicant=APPLICANTS[1]))["id"]
            matters.app.contacts_waiting.set()
            assert await until(lambda: _none_waiting(database_url))  # this phone is there before its invitation
            second = await notify.publish(invitation_opened(later))
            await notify.publish(second, msg_id=f"{site}:again")  # the same event once more
            msgs = await notify.wait_messages(uuid.UUID(later), sent("rating_invite"))
            await asyncio.sleep(0.5)
            again = [*await notify.messages(uuid.UUID(early)), *await notify.messages(uuid.UUID(later))]
    link = "【测试大厅】请您对本次服务评价：https://zz.example.cn/r/{}"
    assert early_msgs[0]["text"] == link.format(first.data["invitation_id"])
    assert msgs[0]["text"] == link.format(second.data["invitation_id"])
    assert msgs[0]["phone_masked"] == "139****5678"
    assert len(again) == 2


def invitation_opened(case_id: str) -> rev.InvitationOpened:
    """What the ratings service publishes when a promised case is finished (一事一评)."""
    return rev.InvitationOpened(invitation_id=uuid.uuid4(), subject="case", subject_id=uuid.UUID(case_id),
                                window_no=1, matter_id="jy-knrd", expires_at=datetime(2026, 3, 1, tzinfo=TZ))


async def test_a_bad_handover_request_gets_a_clear_error_without_the_number(
        servers: Servers, site: str, tmp_path: Path) -> None:
    """svc.<site>.notify.contacts answers a malformed request or a landline with {error, message}, never echoing
    the number, and registers nothing."""
    async with notify_of(servers, site) as notify:
        subject = f"svc.{site}.notify.contacts"
        bad = json.loads((await notify.nc.request(subject, b'{"ref_type": "case", "ref_id": "x"}', timeout=2)).data)
        ref = uuid.uuid4()
        landline = json.loads((await notify.nc.request(subject, json.dumps({
            "ref_type": "case", "ref_id": str(ref), "phone": "0731-1234567"}).encode(), timeout=2)).data)
        async with notify.app.pool.acquire() as conn:
            contacts = await conn.fetchval("SELECT count(*) FROM contacts")
    assert bad["error"] == "invalid_request" and "ref_id" in bad["message"] and "phone" in bad["message"]
    assert landline["error"] == "InvalidPhone" and "1234567" not in json.dumps(landline, ensure_ascii=False)
    assert landline.get("retry", False) is False and contacts == 0
