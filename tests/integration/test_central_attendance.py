"""Attendance at central (考勤), against real NATS and PostgreSQL: tickets turned away at closing
(``closed_unserved``) counted in ``today`` and the reports; one day of window events and snapshots folded into the
attendance rows with each flag (迟到, 早退, 空窗, idle while people wait); the idle alert opened and cleared."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.events.queue import (
    QueueSnapshot,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    WindowSignedIn,
    WindowSignedOut,
    WindowSnapshotItem,
)
from shared.events.site import SiteHeartbeat
from tests.integration.central_fixtures import (
    MONDAY_10,
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401  (the fixture, by its name)
)

Q = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


def hm(h: int, m: int) -> datetime:
    return MONDAY_10.replace(hour=h, minute=m)


def call(no: int) -> TicketCalled:
    return TicketCalled(ticket_id=uuid.uuid4(), number="A001", queue_id=Q, window_no=no, staff_id=f"s{no:03d}",
                        call_no=1, waited_s=60)


def done(no: int) -> TicketCompleted:
    return TicketCompleted(ticket_id=uuid.uuid4(), number="A001", queue_id=Q, matter_id="m", window_no=no,
                           staff_id=f"s{no:03d}", waited_s=60, served_s=600)


def snapshot(states: dict[int, tuple[str, bool]]) -> QueueSnapshot:
    return QueueSnapshot(queues=[], windows=[
        WindowSnapshotItem(window_no=n, state=st, staff_id=f"s{n:03d}" if st != "closed" else None, waiting=3,
                           busy=busy) for n, (st, busy) in states.items()])


async def test_closed_unserved_counted_as_turned_away(central_env: CentralEnv) -> None:
    """Two tickets turned away at closing count as turned_away (not cancelled) in today and the daily and monthly
    reports; a day_closed leftover counts nowhere, a citizen's cancel as cancelled."""
    env = central_env
    zz = env.sites[0]
    reasons = ["closed_unserved", "closed_unserved", "day_closed", "cancelled"]
    evs = [env.event(zz, TicketCancelled(ticket_id=uuid.uuid4(), reason=r)) for r in reasons]
    await env.publish(*evs)
    await env.wait_ingested(len(evs))
    today = (await env.site(zz))["today"]
    assert (today["turned_away"], today["cancelled"]) == (2, 1)
    h = await env.supervisor()
    for path, params in (("daily", {"date": "2026-11-23"}), ("monthly", {"month": "2026-11"})):
        rep = (await env.client.get(f"{PREFIX}/reports/{path}", params=params, headers=h)).json()
        row = next(r for r in rep["sites"] if r["site"] == zz)
        assert (row["turned_away"], row["cancelled"]) == (2, 1) and rep["region"]["turned_away"] == 2
    csv = (await env.client.get(f"{PREFIX}/reports/daily", params={"date": "2026-11-23", "format": "csv"},
                                headers=h)).text
    assert "闭厅未办" in csv and "空窗分钟" in csv


async def test_attendance_flags_and_the_idle_alert(central_env: CentralEnv) -> None:
    """09:00 three wait for every window; 1 signs in 09:05 and is idle from 09:20 (idle_while_waiting, alert opened at
    11:45, cleared by its call), 2 signs in 09:12 (late_start), 3 never (empty_window), 4 signs out 11:40 with three
    waiting (early_leave). The day's report counts one late start, one early leave and the 空窗 minutes."""
    env = central_env
    zz = env.sites[0]
    env.clock.at = hm(11, 45)
    closed = ("closed", False)
    evs = [env.event(zz, snapshot({1: closed, 2: closed, 3: closed, 4: closed}), at=hm(9, 0)),
           env.event(zz, WindowSignedIn(window_no=4, staff_id="s004"), at=hm(9, 0)),
           env.event(zz, call(4), at=hm(9, 1)),
           env.event(zz, WindowSignedIn(window_no=1, staff_id="s001"), at=hm(9, 5)),
           env.event(zz, call(1), at=hm(9, 6)),
           env.event(zz, done(1), at=hm(9, 20)),
           env.event(zz, snapshot({1: ("open", False), 2: closed, 3: closed, 4: ("open", True)}), at=hm(9, 21)),
           env.event(zz, WindowSignedIn(window_no=2, staff_id="s002"), at=hm(9, 12)),
           env.event(zz, call(2), at=hm(9, 13)),
           env.event(zz, done(4), at=hm(11, 39)),
           env.event(zz, WindowSignedOut(window_no=4, staff_id="s004", waiting_left=3), at=hm(11, 40)),
           env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="t"), at=hm(11, 45))]
    await env.publish(*evs)
    await env.wait_ingested(len(evs))
    await env.app.evaluate()
    h = await env.supervisor()

    async def alerts() -> dict[str, Any]:
        found = (await env.client.get(f"{PREFIX}/alerts", params={"site": zz}, headers=h)).json()
        return {f"{a['kind']}:{a['subject']}": a["state"] for a in found}

    opened = await alerts()
    assert opened["idle_while_waiting:window:1"] == "open"
    assert "idle_while_waiting:window:2" not in opened  # serving
    assert any(k.startswith("early_leave:window:4") for k in opened), opened
    r = await env.client.get(f"{PREFIX}/sites/{zz}/attendance", params={"date": "2026-11-23"}, headers=h)
    assert r.status_code == 200, r.text
    rows = {w["window_no"]: w for w in r.json()["windows"]}
    assert rows[1]["flags"] == ["idle_while_waiting"] and rows[1]["idle_while_waiting_s"] == 60 + 145 * 60
    assert rows[1]["staffed_s"] == 160 * 60 and rows[1]["first_sign_in"].startswith("2026-11-23T09:05")
    assert rows[2]["flags"] == ["late_start"] and rows[2]["staff_id"] == "s002"
    assert rows[3]["flags"] == ["empty_window"] and rows[3]["staffed_s"] == 0 and rows[3]["empty_s"] == 165 * 60
    assert rows[4]["flags"] == ["early_leave"] and rows[4]["last_sign_out"].startswith("2026-11-23T11:40")
    assert rows[4]["waiting_left"] == 3 and rows[4]["paused_s"] == 0
    await env.publish(env.event(zz, call(1), at=hm(11, 45)))
    await env.wait_ingested(len(evs) + 1)
    await env.app.evaluate()
    assert (await alerts())["idle_while_waiting:window:1"] == "resolved"
    rep = (await env.client.get(f"{PREFIX}/reports/daily", params={"date": "2026-11-23"}, headers=h)).json()
    row = next(x for x in rep["sites"] if x["site"] == zz)
    # 空窗: 3 for 165 min, 2 for 12 (until 09:12), 1 for 5 (until 09:05), 4 for 5 (from 11:40)
    assert (row["late_starts"], row["early_leaves"], row["empty_window_min"]) == (1, 1, 187)
    bad = await env.client.get(f"{PREFIX}/sites/{zz}/attendance", params={"date": "2026-13-01"}, headers=h)
    assert bad.status_code in (400, 422)
    missing = await env.client.get(f"{PREFIX}/sites/nowhere/attendance", headers=h)
    assert missing.status_code == 404
