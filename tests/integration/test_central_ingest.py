"""Central's ingest against real NATS and PostgreSQL: projections from a realistic hall morning, redelivery counted
once, forged, malformed and unknown events dead-lettered while the rest of the batch is applied, offline after
heartbeats stop."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.deadletter import RawEvent
from shared.events.base import Envelope
from shared.events.matters import CaseAccepted, CaseWarned
from shared.events.notify import SmsFailed, SmsSent
from shared.events.queue import (
    QueueSnapshot,
    QueueSnapshotItem,
    TicketCalled,
    TicketCancelled,
    TicketCompleted,
    TicketIssued,
    TicketNoShow,
    WindowSignedIn,
    WindowSnapshotItem,
)
from shared.events.ratings import ComplaintOpened, InvitationOpened, RatingDefaulted, RatingSubmitted
from shared.events.site import SiteHeartbeat
from tests.integration.central_fixtures import (
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401  (the fixture, by its name)
    running,
)

Q_A = uuid.UUID("00000000-0000-4000-8000-00000000000a")


def issued(t: uuid.UUID, n: str = "A001") -> TicketIssued:
    return TicketIssued(ticket_id=t, number=n, queue_id=Q_A, matter_id="yl-txsq", priority="normal",
                        channel="kiosk", ahead=0, estimated_wait_s=60)


def called(t: uuid.UUID, waited_s: int, window_no: int = 1, call_no: int = 1) -> TicketCalled:
    return TicketCalled(ticket_id=t, number="A001", queue_id=Q_A, window_no=window_no, staff_id=f"s{window_no:03d}",
                        call_no=call_no, waited_s=waited_s)


def completed(t: uuid.UUID, served_s: int, window_no: int = 1) -> TicketCompleted:
    return TicketCompleted(ticket_id=t, number="A001", queue_id=Q_A, matter_id="yl-txsq", window_no=window_no,
                           staff_id=f"s{window_no:03d}", waited_s=0, served_s=served_s)


def submitted(level: int, window_no: int = 1) -> RatingSubmitted:
    return RatingSubmitted(rating_id=uuid.uuid4(), subject="ticket", subject_id=uuid.uuid4(), window_no=window_no,
                           staff_id="s001", matter_id="yl-txsq", scale="national5", level=level, channel="onsite",
                           chain_seq=1, chain_hash="h")


def morning(env: CentralEnv, site: str) -> list[Envelope]:
    """A hall's morning: two windows signed in, four tickets, three first calls (and a recall), two services
    completed (each inviting a rating), a no-show, a cancel, an end-of-day sweep, ratings, a complaint, a yellow
    card, SMS, a heartbeat now."""
    t = [uuid.uuid4() for _ in range(4)]
    case = uuid.uuid4()
    due = env.clock.at + timedelta(days=3)
    datas = [
        WindowSignedIn(window_no=1, staff_id="s001"), WindowSignedIn(window_no=2, staff_id="s002"),
        issued(t[0]), issued(t[1], "A002"), issued(t[2], "A003"), issued(t[3], "A004"),
        called(t[0], 60), called(t[1], 120, window_no=2), called(t[1], 150, window_no=2, call_no=2),
        called(t[2], 600),
        completed(t[0], 300), completed(t[1], 500, window_no=2),
        *[InvitationOpened(invitation_id=uuid.uuid4(), subject="ticket", subject_id=x, window_no=1, matter_id=None,
                           expires_at=due) for x in t[:2]],
        TicketNoShow(ticket_id=t[2], window_no=1, calls=2),
        TicketCancelled(ticket_id=t[3], reason="citizen_left"),
        TicketCancelled(ticket_id=uuid.uuid4(), reason="day_closed"),
        submitted(5), submitted(2, window_no=2),
        RatingDefaulted(rating_id=uuid.uuid4(), subject_id=uuid.uuid4(), level=3),
        ComplaintOpened(complaint_id=uuid.uuid4(), rating_id=uuid.uuid4(), due_at=due),
        CaseAccepted(case_id=case, matter_id="yl-txsq", kind="promised", window_no=1, staff_id="s001",
                     time_limit_days=5, due_at=due),
        CaseWarned(case_id=case, level="yellow", due_at=due),
        SmsSent(message_id=uuid.uuid4(), template="ready", segments=1, ref_type="case", ref_id=case),
        SmsFailed(message_id=uuid.uuid4(), template="ready", segments=1, ref_type="case", ref_id=case,
                  error_code="busy", final=False),
        SmsFailed(message_id=uuid.uuid4(), template="ready", segments=1, ref_type="case", ref_id=case,
                  error_code="blocked", final=True),
        QueueSnapshot(queues=[QueueSnapshotItem(queue_id=Q_A, waiting=1, longest_wait_s=240, windows_open=2)],
                      windows=[WindowSnapshotItem(window_no=1, state="open", staff_id="s001"),
                               WindowSnapshotItem(window_no=2, state="open", staff_id="s002"),
                               WindowSnapshotItem(window_no=3, state="closed", staff_id=None)]),
    ]
    out = [env.event(site, x, seconds=-600 + i) for i, x in enumerate(datas)]
    return [*out, env.event(site, SiteHeartbeat(services={"queue": "ok", "ratings": "ok"}, version="1.0"))]


async def test_a_hall_morning_becomes_the_figures_on_the_wall(central_env: CentralEnv) -> None:
    """A realistic event sequence shows on the wall as today's tickets, served, no-shows, waits (average and p90),
    service time, satisfaction, participation, windows, queues, complaints, cards and SMS failures; a configured
    site with no events appears offline, and a site nobody configured appears once it sends events."""
    env = central_env
    zz, hn, bg = env.sites
    events = morning(env, zz)
    await env.publish(*events)
    extra = env.event(bg, SiteHeartbeat(services={"queue": "ok"}, version="1.0"))
    await env.publish(extra)
    await env.wait_ingested(len(events) + 1)
    await env.app.evaluate()  # the periodic evaluation: zz's heartbeat is fresh, hn never sent one
    s = await env.site(zz)
    today = s["today"]
    assert (today["issued"], today["served"], today["no_shows"], today["cancelled"]) == (4, 2, 1, 1)
    assert today["avg_wait_s"] == 260.0  # first calls only: (60 + 120 + 600) / 3
    assert 600 <= today["p90_wait_s"] < 630
    assert today["avg_service_s"] == 400.0 and 480 <= today["p90_service_s"] < 510
    assert today["satisfaction"] == round(2 / 3, 4)  # 5 and a defaulted 3 (基本满意) of (5, 2, defaulted 3)
    assert today["participation"] == 1.0  # two citizens rated the two services invited
    assert today["open_complaints"] == 1 and today["warned_yellow"] == 1
    assert (today["sms_sent"], today["sms_failed"]) == (1, 1)  # the retried failure is not final
    assert s["windows"] == {"open": 2, "paused": 0, "unstaffed": 1}
    assert s["queues"]["waiting"] == 1 and s["queues"]["longest_wait_s"] == 240
    assert s["online"] is True and s["services"]["queue"]["status"] == "ok"
    kinds = {a["kind"] for a in s["open_alerts"]}
    assert {"bad_rating", "case_yellow"} <= kinds
    assert s["status"] == "yellow" and any("差评" in r for r in s["reasons"]), s["reasons"]
    wall = {x["site"]: x for x in (await env.client.get(f"{PREFIX}/sites")).json()}
    assert wall[hn]["name"] == "衡南县人社局服务大厅" and wall[hn]["status"] == "red" and not wall[hn]["online"]
    assert wall[bg]["configured"] is False and wall[bg]["online"] is True


async def test_a_redelivered_batch_counts_once(central_env: CentralEnv) -> None:
    """The same batch applied twice, and the whole stream delivered again to a recreated consumer after a restart,
    leave every figure as it was."""
    env = central_env
    zz = env.sites[0]
    events = morning(env, zz)
    await env.publish(*events)
    await env.wait_ingested(len(events))
    before = (await env.site(zz))["today"]
    raws = [RawEvent(e.subject, e.to_bytes()) for e in events]
    again = await env.ingest.apply(raws)
    assert again.applied == 0 and again.duplicates == len(events)
    assert (await env.site(zz))["today"] == before
    # a central restart whose consumer starts over from the first message
    await env.nc.jetstream().delete_consumer(env.stream, env.settings.central_durable)
    dup_before, applied_before = env.ingest.duplicates, env.ingest.applied
    async with running(env.settings, env.clock) as (fastapi, client):
        ingest = fastapi.state.ingest

        def redelivered() -> int:  # the first process may still pull from the recreated durable too
            return ingest.duplicates + env.ingest.duplicates - dup_before

        for _ in range(200):
            if redelivered() >= len(events):
                break
            await asyncio.sleep(0.05)
        assert redelivered() == len(events)
        assert ingest.applied == 0 and env.ingest.applied == applied_before
        r = await client.get(f"{PREFIX}/sites/{zz}")
        assert r.json()["today"] == before


async def test_forged_and_malformed_events_are_dead_lettered_and_the_rest_applied(central_env: CentralEnv) -> None:
    """In one stream: an event published under site A's subject that claims site B, a body that is not JSON, a
    ticket.called without its wait and an event of a type central does not know are dead-lettered with their
    reasons (table, API and dead-letter subject); the good events around them are applied, and B's figures never
    move."""
    env = central_env
    zz, hn, _ = env.sites
    js = env.nc.jetstream()
    dlq = await js.pull_subscribe(f"deadletter.central.{env.settings.central_durable}", durable=None,
                                  config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    good1 = env.event(zz, issued(uuid.uuid4()))
    forged = env.event(hn, issued(uuid.uuid4()))  # claims hn …
    good2 = env.event(zz, issued(uuid.uuid4(), "A002"))
    await env.publish(good1)
    await env.publish(forged, subject=f"hall.{zz}.queue.ticket.issued")  # … on zz's subject
    await env.publish_raw(f"hall.{zz}.queue.ticket.issued", b"{not json")
    bad = env.event(zz, called(uuid.uuid4(), 60))
    body = bad.to_bytes().replace(b'"waited_s":60', b'"waited_s":"long"')
    await env.publish_raw(bad.subject, body)
    await env.publish(good2)
    unknown = Envelope(type="queue.ticket.teleported", site=zz, data={"ticket_id": str(uuid.uuid4())})
    await env.publish_raw(unknown.subject, unknown.to_bytes())  # a type central does not know: kept, not applied
    await env.wait_ingested(2, dead=4)
    assert (await env.site(zz))["today"]["issued"] == 2
    assert (await env.site(hn))["today"]["issued"] == 0
    assert (await env.client.get(f"{PREFIX}/dead-letters")).status_code == 401  # operations only
    r = await env.client.get(f"{PREFIX}/dead-letters", headers=await env.supervisor())
    assert r.status_code == 200
    errors = sorted(x["error"] for x in r.json())
    assert len(errors) == 4
    assert f"subject_mismatch: subject hall.{zz}.queue.ticket.issued does not match envelope site/type " \
           f"hall.{hn}.queue.ticket.issued" in errors
    assert any(e.startswith("bad_envelope: not an event envelope") for e in errors)
    assert any(e.startswith("invalid_data: invalid queue.ticket.called") for e in errors)
    assert "unknown_type: unknown event type 'queue.ticket.teleported'" in errors
    got = []
    for _ in range(20):
        with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
            got += await dlq.fetch(10, timeout=0.5)
        if len(got) >= 4:
            break
    assert len(got) == 4 and all(m.headers.get("Hallnet-Error") for m in got)
    await dlq.unsubscribe()
    assert env.ingest.applied == 2


async def test_a_bad_event_inside_one_batch_does_not_hold_the_others(central_env: CentralEnv) -> None:
    """One batch mixing a good event, a forged one and one the database refuses (a window number beyond any
    integer): the good event is applied, the other two dead-lettered."""
    env = central_env
    zz, hn, _ = env.sites
    good = env.event(zz, issued(uuid.uuid4()))
    forged = env.event(hn, issued(uuid.uuid4()))
    huge = env.event(zz, WindowSignedIn(window_no=2**40, staff_id="s001"))
    result = await env.ingest.apply([RawEvent(good.subject, good.to_bytes(), stream_seq=10_001),
                                     RawEvent(f"hall.{zz}.queue.ticket.issued", forged.to_bytes(), stream_seq=10_002),
                                     RawEvent(huge.subject, huge.to_bytes(), stream_seq=10_003)])
    assert (result.applied, result.dead_lettered) == (1, 2)
    assert (await env.site(zz))["today"]["issued"] == 1
    assert (await env.site(zz))["windows"]["open"] == 0


async def test_a_site_goes_offline_when_its_heartbeats_stop_and_back_online(central_env: CentralEnv) -> None:
    """A heartbeat keeps the site green; 60 s without one (threshold 30 s) opens a red 'offline' alert; the next
    heartbeat resolves it automatically."""
    env = central_env
    zz = env.sites[0]
    await env.publish(env.event(zz, WindowSignedIn(window_no=1, staff_id="s001"), seconds=-5),
                      env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(2)
    env.clock.advance(seconds=10)
    await env.app.evaluate()
    s = await env.site(zz)
    assert s["online"] and s["status"] == "green" and s["reasons"] == []
    env.clock.advance(seconds=60)
    await env.app.evaluate()
    s = await env.site(zz)
    assert not s["online"] and s["status"] == "red"
    offline = [a for a in s["open_alerts"] if a["kind"] == "offline"]
    assert len(offline) == 1 and offline[0]["state"] == "open"
    await env.app.evaluate()  # evaluated again: still one alert (deduplicated)
    assert len([a for a in (await env.site(zz))["open_alerts"] if a["kind"] == "offline"]) == 1
    await env.publish(env.event(zz, SiteHeartbeat(services={"queue": "ok"}, version="1")))
    await env.wait_ingested(3)
    await env.app.evaluate()
    s = await env.site(zz)
    assert s["online"] and s["status"] == "green"
    r = await env.client.get(f"{PREFIX}/alerts", params={"site": zz, "state": "resolved"})
    resolved = [a for a in r.json() if a["kind"] == "offline"]  # newest first (the one at start-up is older)
    assert resolved[0]["id"] == offline[0]["id"] and resolved[0]["resolved_by"] == "auto"
    assert resolved[0]["resolved_at"].startswith("2026-11-23T10:01:10")


async def test_a_batch_cut_off_before_its_commit_is_applied_exactly_once(central_env: CentralEnv) -> None:
    """The ingest's database connection is killed in the middle of a batch's transaction (blocked on a lock, after
    its inbox rows were written): nothing of it stays, the batch is retried, and every ticket counts exactly once."""
    env = central_env
    zz = env.sites[0]
    blocker = await env.db()
    victim = await env.db()
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE site_day IN EXCLUSIVE MODE")
        events = [env.event(zz, issued(uuid.uuid4(), f"A{i:03d}")) for i in range(30)]
        await env.publish(*events)
        pid = None
        for _ in range(200):
            pid = await victim.fetchval(
                """SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                   AND query LIKE '%INSERT INTO site_day%' LIMIT 1""")
            if pid:
                break
            await asyncio.sleep(0.05)
        assert pid, "the ingest never reached the locked table"
        assert await victim.fetchval("SELECT pg_terminate_backend($1)", pid)
        await tx.rollback()
    finally:
        await blocker.close()
        await victim.close()
    await env.wait_ingested(30)
    await asyncio.sleep(0.3)
    assert (await env.site(zz))["today"]["issued"] == 30
    assert env.ingest.applied == 30 and env.ingest.duplicates == 0
