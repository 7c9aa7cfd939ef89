"""Central's event alerts and projection handlers without a database: which event opens or resolves which alert
(severity, subject, text), the alert lifecycle's typed errors, and the in-memory aggregation found by the event's
class."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.central import alerts as al
from services.central.projections import HANDLERS, BatchProjection
from shared import errors
from shared.events import matters as mev
from shared.events import notify as nev
from shared.events import queue as qev
from shared.events import ratings as rev
from shared.events.base import REGISTRY, EventData, make_event

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
SITE = "zhuzhou"


def submitted(level: int, window_no: int | None = 3) -> rev.RatingSubmitted:
    return rev.RatingSubmitted(rating_id=uuid.uuid4(), subject="ticket", subject_id=uuid.uuid4(),
                               window_no=window_no, staff_id="s003", matter_id="yl-txsq", scale="national5",
                               level=level, channel="onsite", chain_seq=1, chain_hash="h")


def projection() -> BatchProjection:
    return BatchProjection(TZ, {SITE: "national5"}, bad_level=2)


def add(p: BatchProjection, data: EventData, minutes: float = 0) -> None:
    p.add(make_event(SITE, data, occurred_at=MONDAY + timedelta(minutes=minutes)), data)


def test_a_rating_at_or_below_the_threshold_opens_a_yellow_bad_rating_alert() -> None:
    """差评: level ≤ bad_rating_level opens ``bad_rating`` on ``rating:<id>`` with the window and the level in its
    text; a better rating opens nothing."""
    bad = submitted(2)
    change = al.EVENT_ALERTS[rev.RatingSubmitted](SITE, bad, 2)
    (c,) = change.opens
    assert (c.kind, c.subject, c.severity, c.value) == ("bad_rating", f"rating:{bad.rating_id}", "yellow", 2)
    assert c.message == "差评：2 级（3号窗口）/ bad rating"
    assert c.detail == {"rating_id": str(bad.rating_id), "window_no": 3, "staff_id": "s003", "matter_id": "yl-txsq"}
    assert change.resolves == ()
    assert al.bad_rating(SITE, submitted(3), 2) == al.NO_CHANGE
    assert al.bad_rating(SITE, submitted(1, window_no=None), 2).opens[0].message == "差评：1 级（-号窗口）/ bad rating"


def test_complaint_overdue_opens_red_and_closing_resolves_it_and_its_bad_rating() -> None:
    """An overdue complaint opens a red ``complaint_overdue``; its closing resolves that alert and the bad rating
    the complaint was about."""
    complaint, rating = uuid.uuid4(), uuid.uuid4()
    due = MONDAY + timedelta(days=5)
    (c,) = al.complaint_overdue(SITE, rev.ComplaintOverdue(complaint_id=complaint, rating_id=rating, due_at=due),
                                2).opens
    assert (c.kind, c.subject, c.severity, c.message) == ("complaint_overdue", f"complaint:{complaint}", "red",
                                                          "差评整改超期 / complaint overdue")
    assert c.detail == {"complaint_id": str(complaint), "rating_id": str(rating), "due_at": due.isoformat()}
    closed = al.complaint_closed(SITE, rev.ComplaintClosed(complaint_id=complaint, rating_id=rating), 2)
    assert closed.opens == ()
    assert {(r.kind, r.subject, r.note) for r in closed.resolves} == {
        ("complaint_overdue", f"complaint:{complaint}", "complaint closed"),
        ("bad_rating", f"rating:{rating}", "complaint closed")}


def test_case_cards_open_their_alerts_red_resolves_yellow_and_completion_resolves_both() -> None:
    """黄牌 opens a yellow ``case_yellow``; 红牌 opens a red ``case_red`` and resolves the yellow; completing the
    case resolves both."""
    case = uuid.uuid4()
    due = MONDAY + timedelta(days=1)
    yellow = al.case_warned(SITE, mev.CaseWarned(case_id=case, level="yellow", due_at=due), 2)
    assert [(c.kind, c.severity, c.message) for c in yellow.opens] == [
        ("case_yellow", "yellow", "办件临近时限（黄牌）/ case nearing its limit")]
    assert yellow.resolves == ()
    red = al.case_warned(SITE, mev.CaseWarned(case_id=case, level="red", due_at=due), 2)
    assert [(c.kind, c.subject, c.severity) for c in red.opens] == [("case_red", f"case:{case}", "red")]
    assert red.opens[0].detail == {"case_id": str(case), "due_at": due.isoformat()}
    assert [(r.kind, r.note) for r in red.resolves] == [("case_yellow", "escalated to red")]
    done = al.case_completed(SITE, mev.CaseCompleted(case_id=case, result="approved", working_days_used=3,
                                                     overdue=False), 2)
    assert sorted((r.kind, r.note) for r in done.resolves) == [("case_red", "case completed"),
                                                               ("case_yellow", "case completed")]


def test_the_maps_hold_registered_event_classes_only() -> None:
    """Every handler and alert rule is keyed by a registered event class (so its subject derives from the type)."""
    for cls in [*HANDLERS, *al.EVENT_ALERTS]:
        assert REGISTRY[cls.TYPE] is cls


def test_the_alert_lifecycle_moves_forward_only_with_typed_errors() -> None:
    """open → acknowledged → resolved; acknowledging twice or acting on a resolved alert is a Conflict (409)."""
    assert al.next_state("open", "ack") == "acknowledged"
    assert al.next_state("open", "resolve") == "resolved"
    assert al.next_state("acknowledged", "resolve") == "resolved"
    with pytest.raises(al.AlertAlreadyAcknowledged) as acked:
        al.next_state("acknowledged", "ack")
    assert isinstance(acked.value, errors.Conflict) and acked.value.detail == {"state": "acknowledged"}
    actions: tuple[al.AlertAction, ...] = ("ack", "resolve")
    for action in actions:
        with pytest.raises(al.AlertAlreadyResolved):
            al.next_state("resolved", action)
    assert issubclass(al.AlertNotFound, errors.NotFound)


def test_a_batch_aggregates_by_event_class_and_collects_the_alerts_of_its_events() -> None:
    """Counters, histograms and windows come from each type's handler; a bad rating counts and opens its alert;
    an alert opened and resolved in the same batch is kept open-then-resolved; unhandled known types only mark the
    site as heard from."""
    p = projection()
    t = uuid.uuid4()
    q = uuid.uuid4()
    add(p, qev.WindowSignedIn(window_no=1, staff_id="s001"))
    add(p, qev.TicketIssued(ticket_id=t, number="A001", queue_id=q, matter_id=None, priority="normal",
                            channel="kiosk", ahead=0, estimated_wait_s=60), 1)
    add(p, qev.TicketCalled(ticket_id=t, number="A001", queue_id=q, window_no=1, staff_id="s001", call_no=1,
                            waited_s=125), 2)
    add(p, qev.TicketCalled(ticket_id=t, number="A001", queue_id=q, window_no=1, staff_id="s001", call_no=2,
                            waited_s=300), 3)
    add(p, qev.TicketStarted(ticket_id=t, window_no=1, staff_id="s001"), 4)
    add(p, nev.SmsFailed(message_id=uuid.uuid4(), template="ready", segments=1, ref_type="case", ref_id="x",
                         final=False), 5)
    rating = submitted(1)
    add(p, rating, 6)
    add(p, rev.ComplaintClosed(complaint_id=uuid.uuid4(), rating_id=rating.rating_id), 7)
    day = p.days[(SITE, MONDAY.date())]
    assert (day["issued"], day["called"], day["wait_sum"], day["wait_n"], day["rated"], day["bad"]) == (
        1, 2, 125, 1, 1, 1)
    assert (day["sms_failed"], day["complaints_closed"]) == (0, 1)
    assert p.hist == {(SITE, MONDAY.date(), "w", 120): 1}
    assert p.windows[(SITE, 1)].state == "open" and p.first_sign_in[(SITE, MONDAY.date())] == MONDAY
    key = (SITE, "bad_rating", f"rating:{rating.rating_id}")
    assert key in p.opens and p.resolves[key] == (MONDAY + timedelta(minutes=7), "complaint closed")
    assert p.sites[SITE]["last_event_at"] == MONDAY + timedelta(minutes=7)
