"""Counting 好差评 at central as the nation counts, against real NATS and PostgreSQL: each level 1–5, a defaulted
rating (基本满意, satisfied) and a voided one (申诉复核 upheld: in no figure) on the wall's ``today``, the hourly
series, the daily and monthly reports and the rankings; the seeds' four-level scale its own way; participation
(参评率) over invitations, not tickets served; and the site's own ``GET /ratings/api/v1/stats`` agreeing with
central on the same events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from shared.deadletter import RawEvent
from shared.events.base import Envelope
from shared.events.matters import CaseAccepted, CaseCompleted
from shared.events.queue import TicketCompleted
from shared.events.ratings import InvitationOpened, RatingDefaulted, RatingSubmitted, RatingVoided
from tests.harness import Servers
from tests.integration.central_fixtures import (
    MONDAY_10,
    PREFIX,
    CentralEnv,
    central_env_fixture,  # noqa: F401  (the fixture, by its name)
)
from tests.integration.matters_fixtures import FakeClock, own_database
from tests.integration.ratings_fixtures import PREFIX as RATINGS
from tests.integration.ratings_fixtures import start_ratings
from tests.integration.test_ratings_stats import rate_the_plan

Q = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def served(window_no: int) -> TicketCompleted:
    return TicketCompleted(ticket_id=uuid.uuid4(), number="A001", queue_id=Q, matter_id="m", window_no=window_no,
                           staff_id=f"s{window_no:03d}", waited_s=60, served_s=300)


def invited(subject: str = "ticket") -> InvitationOpened:
    return InvitationOpened(invitation_id=uuid.uuid4(), subject=subject, subject_id=uuid.uuid4(), window_no=1,
                            matter_id="m", expires_at=MONDAY_10 + timedelta(days=7))


def given(level: int, scale: str = "national5", rating_id: uuid.UUID | None = None) -> RatingSubmitted:
    return RatingSubmitted(rating_id=rating_id or uuid.uuid4(), subject="ticket", subject_id=uuid.uuid4(),
                           window_no=1, staff_id="s001", matter_id="m", scale=scale, level=level, channel="onsite",
                           chain_seq=1, chain_hash="h")


def voided(rating_id: uuid.UUID) -> RatingVoided:
    return RatingVoided(rating_id=uuid.uuid4(), voids=rating_id, chain_seq=2, chain_hash="h2", chain_prev="h",
                        chain_digest="d")


def figures(site: dict[str, Any]) -> tuple[Any, ...]:
    t = site["today"]
    return t["rated"], t["defaulted"], t["satisfied"], t["voided"], t["bad_ratings"], t["satisfaction"]


async def test_each_level_a_default_and_a_void_on_the_wall_series_and_reports(central_env: CentralEnv) -> None:
    """zz: 5, 4, 3 satisfied, 2 and 1 bad, a default (no scale in the event: the site's) satisfied, a 1 voided in a
    later batch: 4 of 6 satisfied, the void in no figure and not taken twice when redelivered; hn on the seeds'
    scale: 4, 3, 2 satisfied, 1 bad. The hour's series, the daily and monthly reports and the ranking agree."""
    env = central_env
    zz, hn, _ = env.sites
    to_void = uuid.uuid4()
    first = [env.event(zz, served(1), minutes=-5) for _ in range(7)]
    first += [env.event(zz, invited(), minutes=-5) for _ in range(7)]
    first += [env.event(zz, given(level), minutes=-4) for level in (5, 4, 3, 2, 1)]
    first += [env.event(zz, RatingDefaulted(rating_id=uuid.uuid4(), subject_id=uuid.uuid4(), level=3), minutes=-4),
              env.event(zz, given(1, rating_id=to_void), minutes=-4)]
    first += [env.event(hn, given(level, "seeds4"), minutes=-3) for level in (4, 3, 2, 1)]
    await env.publish(*first)
    await env.wait_ingested(len(first))
    assert figures(await env.site(zz)) == (6, 1, 4, 0, 3, round(4 / 7, 4))
    void = env.event(zz, voided(to_void))
    await env.publish(void)
    await env.wait_ingested(len(first) + 1)
    again = await env.ingest.apply([RawEvent(void.subject, void.to_bytes()), RawEvent(
        void.subject, env.event(zz, voided(to_void)).to_bytes())])  # redelivered, and a second void of it
    assert again.duplicates == 1
    s = await env.site(zz)
    assert figures(s) == (5, 1, 4, 1, 2, round(4 / 6, 4))
    assert (s["today"]["invitations"], s["today"]["participation"]) == (7, round(5 / 7, 4))
    assert figures(await env.site(hn)) == (4, 0, 3, 0, 1, 0.75)
    hours = (await env.client.get(f"{PREFIX}/sites/{zz}/series", params={"day": "2026-11-23"})).json()["points"]
    assert hours[9]["satisfaction"] == round(4 / 6, 4)  # 09:56, the void taken back from the rating's hour
    for path, params in (("daily", {"date": "2026-11-23"}), ("monthly", {"month": "2026-11"})):
        rep = (await env.client.get(f"{PREFIX}/reports/{path}", params=params)).json()
        sites = {x["site"]: x for x in rep["sites"]}
        assert (sites[zz]["rated"], sites[zz]["satisfaction"], sites[zz]["bad_ratings"]) == (5, round(4 / 6, 4), 2)
        assert sites[zz]["participation"] == round(5 / 7, 4) and sites[hn]["participation"] is None  # not invited
        assert sites[hn]["satisfaction"] == 0.75 and rep["rankings"]["satisfaction"][:2] == [hn, zz]
        assert rep["region"]["satisfied"] == 7 and rep["region"]["voided"] == 1


async def test_the_site_and_central_count_the_same_events_alike(servers: Servers, site: str,
                                                                central_env: CentralEnv) -> None:
    """A real ratings service rates 5, 4, 3, 2, 1, lets one default and has one voided by a second manager; its
    events, applied at central, give the same rated, defaulted, voided, satisfied, bad, satisfaction and
    participation as the site's own ``GET /stats``."""
    async with own_database(servers, f"r_{site}") as db, start_ratings(
            servers, site, db, ratings_expiry_s=3600, clock=FakeClock(MONDAY_10 - timedelta(hours=1))) as env:
        day = await rate_the_plan(env)
        # 7 served, 7 invited, 8 chain entries (6 given, 1 defaulted, 1 voided), 5 complaint steps (3 opened, the
        # appeal, its close)
        events: list[Envelope] = await env.events(expect=27, types=("queue.", "ratings."))
        day_q = {"from": day.isoformat(), "to": day.isoformat(), "group_by": "day"}
        (at_site,) = (await env.client.get(f"{RATINGS}/stats", params=day_q)).json()["rows"]
    result = await central_env.ingest.apply([RawEvent(e.subject, e.to_bytes()) for e in events])
    assert result.dead_lettered == 0 and result.applied == len(events)
    today = (await central_env.site(site))["today"]
    assert (today["rated"], today["defaulted"], today["voided"], today["satisfied"], today["bad_ratings"]) == (
        at_site["submitted"], at_site["defaulted"], at_site["voided"], at_site["satisfied"], at_site["bad"])
    assert (today["satisfaction"], today["participation"]) == (at_site["satisfaction"], at_site["participation"])
    assert (today["rated"], today["satisfied"], today["satisfaction"]) == (5, 4, round(4 / 6, 4))


async def test_participation_is_over_invitations_at_the_site_and_at_central(servers: Servers, site: str,
                                                                             central_env: CentralEnv) -> None:
    """A rated ticket, an unrated ticket, a rated case (一事一评: no ticket served) and a voided rating: the site's
    ``GET /stats`` and central both count 4 invitations and participation 2 / 4 (not 2 over 3 tickets served)."""
    async with own_database(servers, f"r_{site}") as db, start_ratings(
            servers, site, db, clock=FakeClock(MONDAY_10 - timedelta(hours=1))) as env:
        day = env.clock().date()
        rated = await env.invitation(1, await env.complete_ticket(window_no=1, at=env.clock()))
        assert (await env.rate(rated["id"], {"level": 5})).status_code == 201
        await env.invitation(2, await env.complete_ticket(window_no=2, staff_id="s002", at=env.clock()))  # no answer
        case_id = uuid.uuid4()
        await env.publish(CaseAccepted(case_id=case_id, matter_id="gs-rdsq", kind="promised", window_no=3,
                                       staff_id="s003", time_limit_days=10, due_at=None), env.clock())
        await env.publish(CaseCompleted(case_id=case_id, result="approved", working_days_used=3, overdue=False,
                                        kind="promised"), env.clock())
        opened = await env.events(expect=3, types=("ratings.invitation.opened",))
        (case_inv,) = [e.data["invitation_id"] for e in opened if e.data["subject"] == "case"]
        assert (await env.rate(str(case_inv), {"level": 4})).status_code == 201
        bad = await env.invitation(4, await env.complete_ticket(window_no=4, staff_id="s004", at=env.clock()))
        assert (await env.rate(bad["id"], {"level": 1})).status_code == 201
        (cid,) = [c["id"] for c in (await env.client.get(f"{RATINGS}/complaints", headers=env.manager)).json()]
        await env.step(cid, "appeal", env.manager, {"note": "误评"})
        await env.step(cid, "approve", env.manager2, {"note": "误评，已核实"})
        # 3 served, 4 invited, 4 chain entries (3 given, 1 voided), 3 complaint steps (opened, appeal, close)
        events: list[Envelope] = await env.events(expect=14, types=("queue.", "ratings."))
        day_q = {"from": day.isoformat(), "to": day.isoformat(), "group_by": "day"}
        (at_site,) = (await env.client.get(f"{RATINGS}/stats", params=day_q)).json()["rows"]
    assert (at_site["invitations"], at_site["submitted"], at_site["voided"], at_site["participation"]) == (
        4, 2, 1, 0.5)
    result = await central_env.ingest.apply([RawEvent(e.subject, e.to_bytes()) for e in events])
    assert result.dead_lettered == 0 and result.applied == len(events)
    today = (await central_env.site(site))["today"]
    assert (today["served"], today["invitations"], today["rated"], today["voided"]) == (3, 4, 2, 1)
    assert (today["participation"], today["satisfaction"]) == (at_site["participation"], at_site["satisfaction"])
