"""Pure rules of central supervision: p90 from the wait histogram, satisfaction, alert rules with office hours,
the status colour, report maths and rankings."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.central import alerts as al
from services.central import domain as d
from services.ratings import domain as ratings_domain

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
T = d.Thresholds()
CFG = d.SiteConfig(id="zhuzhou", name="株洲")


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def state(**kw: Any) -> al.SiteState:
    base: dict[str, Any] = {"site": "zhuzhou", "config": CFG, "last_heartbeat_at": MONDAY - timedelta(seconds=5),
                               "windows": [al.WindowState(1, "open", MONDAY - timedelta(hours=1), MONDAY.date())]}
    base.update(kw)
    return al.SiteState(**base)


def kinds(s: al.SiteState, now: datetime = MONDAY, t: d.Thresholds = T) -> set[str]:
    return {c.kind for c in al.evaluate(s, t, now, weekdays)[0]}


@given(st.lists(st.integers(min_value=0, max_value=20_000), min_size=1, max_size=300))
def test_p90_from_the_histogram_is_within_one_bucket_of_the_exact_p90(waits: list[int]) -> None:
    """The histogram's p90 lies in the bucket of the exact p90 (10 s wide under 10 minutes, 30 s under an hour)."""
    hist: dict[int, int] = {}
    for w in waits:
        hist[d.bucket_of(w)] = hist.get(d.bucket_of(w), 0) + 1
    ordered = sorted(waits)
    exact = ordered[max(1, -(-9 * len(ordered) // 10)) - 1]
    got = d.percentile(hist, 0.9)
    assert got is not None
    b = d.bucket_of(exact)
    assert b <= got <= b + max(d.bucket_width(b), 0) or (b == d.CAP_S and got == d.CAP_S)


def test_p90_of_nothing_is_none_and_of_one_value_is_its_bucket() -> None:
    """No waits: no p90 (not 0); a single 95 s wait reports 95 s (the middle of the 90–100 s bucket)."""
    assert d.percentile({}, 0.9) is None
    assert d.percentile({d.bucket_of(95): 1}, 0.9) == 95
    assert d.percentile({d.bucket_of(10_000_000): 3}, 0.9) == d.CAP_S


def test_satisfaction_counts_basically_satisfied_and_better_on_each_scale() -> None:
    """好评 as the nation counts: 5, 4 and 3 (基本满意) on the national scale, 4, 3 and 2 (一般) on the seeds' four
    levels; an unknown scale counts as the national one."""
    assert [d.is_satisfied(x, "national5") for x in (5, 4, 3, 2, 1)] == [True, True, True, False, False]
    assert [d.is_satisfied(x, "seeds4") for x in (4, 3, 2, 1)] == [True, True, True, False]
    assert d.is_satisfied(3, None) and not d.is_satisfied(2, "ten-stars")


@pytest.mark.parametrize(("level", "satisfied", "bad"), [(5, 1, 0), (4, 1, 0), (3, 1, 0), (2, 0, 1), (1, 0, 1)])
def test_each_level_counts_once_and_a_void_takes_it_back(level: int, satisfied: int, bad: int) -> None:
    """A given rating of each level adds rated 1 and either satisfied or bad; a default (3) adds defaulted and
    satisfied; its void takes back exactly that and counts voided."""
    counted = d.rating_counters("submitted", level, "national5")
    assert counted == {"rated": 1, "defaulted": 0, "satisfied": satisfied, "bad": bad}
    back = d.voided_counters(counted)
    assert {k: counted[k] + back[k] for k in counted} == dict.fromkeys(counted, 0) and back["voided"] == 1
    assert d.hour_counters(counted) == {"judged": 1, "satisfied": satisfied}
    assert d.rating_counters("defaulted", 3, None) == {"rated": 0, "defaulted": 1, "satisfied": 1, "bad": 0}


@given(st.lists(st.tuples(st.sampled_from(["submitted", "defaulted"]), st.integers(1, 5), st.booleans()),
                max_size=30), st.integers(0, 20))
def test_central_counts_satisfaction_and_participation_as_the_site_does(
        ratings: list[tuple[str, int, bool]], unrated: int) -> None:
    """Any mix of given and defaulted ratings, some voided, and invitations nobody answered: central's counters
    (``rating_counters``, ``voided_counters``, invitations) give the satisfaction and participation (参评率 =
    standing given ratings over invitations) the ratings service's ``tally`` gives."""
    counters: dict[str, int] = {"invitations": len(ratings) + unrated}
    for kind, level, is_voided in ratings:
        counted = d.rating_counters(kind, level, "national5")
        for add in (counted, d.voided_counters(counted)) if is_voided else (counted,):
            for k, v in add.items():
                counters[k] = counters.get(k, 0) + v
    site = ratings_domain.tally(len(ratings) + unrated, [
        ratings_domain.Counted("voided" if is_voided else kind, "national5", level)
        for kind, level, is_voided in ratings])
    f = d.figures(counters)
    assert (f["participation"], f["satisfaction"]) == (site.participation, site.satisfaction)
    assert (f["rated"], f["defaulted"], f["voided"]) == (site.submitted, site.defaulted, site.voided)


def test_a_calm_staffed_hall_calls_for_no_alert() -> None:
    """Heard from 5 s ago, one window open, a short queue: nothing to report."""
    s = state(queues=[{"queue_id": uuid.uuid4(), "waiting": 3, "longest_wait_s": 300, "windows_open": 1}])
    assert kinds(s) == set()


def test_long_wait_and_a_queue_too_long_for_its_windows() -> None:
    """A 31-minute wait is a long wait; 11 people for one window, or anyone waiting with no window open, is a queue
    too long; 10 for one window is not."""
    q = uuid.uuid4()
    assert kinds(state(queues=[{"queue_id": q, "waiting": 11, "longest_wait_s": 1860, "windows_open": 1}])) == {
        "long_wait", "queue_long"}
    assert kinds(state(queues=[{"queue_id": q, "waiting": 10, "longest_wait_s": 60, "windows_open": 1}])) == set()
    assert kinds(state(queues=[{"queue_id": q, "waiting": 1, "longest_wait_s": 60, "windows_open": 0}])) == {
        "queue_long"}


def test_offline_after_the_threshold_without_a_heartbeat() -> None:
    """31 s without hearing from the site (threshold 30 s) is offline, and office-hour rules wait for it to return."""
    s = state(last_heartbeat_at=MONDAY - timedelta(seconds=31), windows=[])
    assert kinds(s) == {"offline"}
    assert kinds(state(last_heartbeat_at=None)) == {"offline"}


def test_empty_window_only_during_office_hours_and_after_n_minutes() -> None:
    """A window paused 16 minutes at 10:00 on a Monday is 空窗; 14 minutes is not; at 12:30 (the noon break) or on a
    Saturday it is not; a window nobody signed in today is not 空窗 (that is a late start)."""
    paused = [al.WindowState(1, "open", MONDAY - timedelta(hours=1), MONDAY.date()),
              al.WindowState(2, "paused", MONDAY - timedelta(minutes=16), MONDAY.date())]
    assert kinds(state(windows=paused)) == {"empty_window"}
    paused[1].since = MONDAY - timedelta(minutes=14)
    assert kinds(state(windows=paused)) == set()
    paused[1].since = MONDAY - timedelta(hours=3)
    noon = MONDAY.replace(hour=12, minute=30)
    assert kinds(state(windows=paused, last_heartbeat_at=noon), now=noon) == set()
    saturday = MONDAY + timedelta(days=5)
    assert kinds(state(windows=paused, last_heartbeat_at=saturday), now=saturday) == set()
    # counted from the session start: paused since before 13:30, it is 空窗 only from 13:46 on
    at_1340 = MONDAY.replace(hour=13, minute=40)
    assert kinds(state(windows=paused, last_heartbeat_at=at_1340), now=at_1340) == set()
    at_1346 = MONDAY.replace(hour=13, minute=46)
    assert kinds(state(windows=paused, last_heartbeat_at=at_1346), now=at_1346) == {"empty_window"}
    never = [al.WindowState(1, "open", MONDAY - timedelta(hours=1), MONDAY.date()),
             al.WindowState(3, "closed", MONDAY - timedelta(days=3), MONDAY.date() - timedelta(days=3))]
    assert kinds(state(windows=never)) == set()


def test_late_start_when_no_window_is_signed_in_after_opening_plus_grace() -> None:
    """No window staffed at 09:11 (grace 10 min) is a late start; at 09:09 it is not yet; once a window is open the
    condition clears."""
    closed = [al.WindowState(1, "closed", MONDAY - timedelta(days=1), None)]
    at_0911 = MONDAY.replace(hour=9, minute=11)
    assert kinds(state(windows=closed, last_heartbeat_at=at_0911), now=at_0911) == {"late_start"}
    at_0909 = MONDAY.replace(hour=9, minute=9)
    assert kinds(state(windows=closed, last_heartbeat_at=at_0909), now=at_0909) == set()
    s = state(windows=[al.WindowState(1, "open", at_0911, MONDAY.date())], last_heartbeat_at=at_0911,
              open_alerts=[{"kind": "late_start", "subject": "session:x", "detail": {}}])
    want, cleared = al.evaluate(s, T, at_0911, weekdays)
    assert want == [] and cleared == {("zhuzhou", "late_start", "session:x")}


def test_early_leave_stays_on_record_unless_the_window_returns_before_closing() -> None:
    """Signed out at 11:35 (closing 12:00, grace 10 min) is an early leave; at 11:55 it is not; the alert clears
    only if the window signs in again before 12:00, not because the afternoon began."""
    at = MONDAY.replace(hour=11, minute=40)
    left = [al.WindowState(2, "closed", MONDAY.replace(hour=11, minute=35), MONDAY.date())]
    assert kinds(state(windows=left, last_heartbeat_at=at), now=at) == {"early_leave"}
    left[0].since = MONDAY.replace(hour=11, minute=55)
    at = MONDAY.replace(hour=11, minute=57)
    assert kinds(state(windows=left, last_heartbeat_at=at), now=at) == set()
    end = MONDAY.replace(hour=12).isoformat()
    alert = {"kind": "early_leave", "subject": "window:2:x", "detail": {"window_no": 2, "session_end": end}}
    back = [al.WindowState(2, "open", MONDAY.replace(hour=11, minute=50), MONDAY.date())]
    at = MONDAY.replace(hour=11, minute=52)
    assert al.evaluate(state(windows=back, last_heartbeat_at=at, open_alerts=[alert]), T, at, weekdays)[1] == {
        ("zhuzhou", "early_leave", "window:2:x")}
    afternoon = MONDAY.replace(hour=13, minute=40)
    back[0].since = afternoon
    assert al.evaluate(state(windows=back, last_heartbeat_at=afternoon, open_alerts=[alert]), T, afternoon,
                      weekdays)[1] == set()


def test_sms_failure_rate_over_the_window_needs_enough_messages() -> None:
    """3 failed of 10 (30 % > 20 %) is an alert; 3 of 9 is too few messages to judge; 2 of 10 is not over."""
    assert kinds(state(sms_sent=7, sms_failed=3)) == {"sms_failure"}
    assert kinds(state(sms_sent=6, sms_failed=3)) == set()
    assert kinds(state(sms_sent=8, sms_failed=2)) == set()


def test_event_alerts_are_not_cleared_by_the_evaluator() -> None:
    """A bad rating or a red card stays until its event (or a supervisor) resolves it; a cleared condition alert
    (offline) is auto-resolved."""
    s = state(open_alerts=[{"kind": "bad_rating", "subject": "rating:1", "detail": {}},
                           {"kind": "case_red", "subject": "case:1", "detail": {}},
                           {"kind": "offline", "subject": "site", "detail": {}}])
    assert al.evaluate(s, T, MONDAY, weekdays)[1] == {("zhuzhou", "offline", "site")}


def test_status_colour() -> None:
    """Offline or any red alert is red (offline first among the reasons); other alerts yellow; none green."""
    assert al.status_colour(True, []) == ("green", [])
    bad = {"kind": "bad_rating", "severity": "yellow", "message": "差评"}
    red = {"kind": "case_red", "severity": "red", "message": "红牌"}
    assert al.status_colour(True, [bad]) == ("yellow", ["差评"])
    assert al.status_colour(True, [bad, red]) == ("red", ["红牌", "差评"])
    colour, reasons = al.status_colour(False, [bad])
    assert colour == "red" and reasons[0].startswith("大厅离线")


def test_report_figures_and_rankings() -> None:
    """Averages, rates and the overdue rate from summed counters; rankings best first, missing figures last."""
    f = d.figures({"served": 4, "wait_sum": 1000, "wait_n": 4, "invitations": 5, "rated": 2, "defaulted": 2,
                   "satisfied": 3, "cases_completed": 4, "cases_overdue": 1}, {d.bucket_of(300): 4})
    assert (f["avg_wait_s"], f["p90_wait_s"], f["satisfaction"], f["participation"], f["overdue_rate"]) == (
        250.0, 305, 0.75, 0.4, 0.25)
    assert d.figures({})["satisfaction"] is None and d.figures({})["avg_service_s"] is None
    rows: list[dict[str, Any]] = [{"site": "b", "s": 0.9}, {"site": "a", "s": None}, {"site": "c", "s": 0.95},
                                  {"site": "d", "s": 0.9}]
    assert d.rank(rows, "s", descending=True) == ["c", "b", "d", "a"]
    assert d.rank(rows, "s", descending=False) == ["b", "d", "c", "a"]


def test_site_config_rejects_backwards_office_hours() -> None:
    """Office hours whose start is not before their end are refused when the configuration is read."""
    with pytest.raises(ValueError):
        d.SiteConfig(id="zhuzhou", office_hours=[("12:00", "09:00")])
    assert d.SiteConfig(id="zhuzhou").sessions()[1][0].isoformat() == "13:30:00"


def test_bucket_edges_are_monotonic() -> None:
    """Bucket lower bounds never decrease as the wait grows (the histogram keeps the order of waits)."""
    rng = random.Random(7)  # noqa: S311  (test data, not cryptography)
    values = sorted(rng.randrange(0, 30_000) for _ in range(2000))
    buckets = [d.bucket_of(v) for v in values]
    assert buckets == sorted(buckets) and all(b <= v for b, v in zip(buckets, values, strict=True))


def test_an_offline_site_keeps_its_queue_alerts_until_it_is_heard_from_again() -> None:
    """While a site is offline its last snapshot is stale: no new queue alert opens and the open ones are neither
    cleared nor duplicated; only 'offline' is added."""
    q = uuid.uuid4()
    s = state(last_heartbeat_at=MONDAY - timedelta(minutes=5),
              queues=[{"queue_id": q, "waiting": 50, "longest_wait_s": 5000, "windows_open": 1}],
              open_alerts=[{"kind": "empty_window", "subject": "window:2", "detail": {}}])
    want, cleared = al.evaluate(s, T, MONDAY, weekdays)
    assert [c.kind for c in want] == ["offline"] and cleared == set()


def test_a_degraded_service_at_an_online_site_raises_an_alert_and_clears_when_it_recovers() -> None:
    """A site service whose heartbeat says degraded (database away, a loop failing) is an alert on the wall; it
    clears once the heartbeat says ok again, and an offline site is judged offline instead."""
    sick = state(services={"queue": "ok", "notify": "degraded"})
    found = [c for c in al.evaluate(sick, T, MONDAY, weekdays)[0] if c.kind == "service_degraded"]
    assert [c.subject for c in found] == ["service:notify"] and "notify" in found[0].message
    healthy = state(services={"queue": "ok", "notify": "ok"},
                    open_alerts=[{"kind": "service_degraded", "subject": "service:notify", "detail": {}}])
    new, cleared = al.evaluate(healthy, T, MONDAY, weekdays)
    assert "service_degraded" not in {c.kind for c in new}
    assert cleared == {("zhuzhou", "service_degraded", "service:notify")}
    offline = state(services={"notify": "degraded"}, last_heartbeat_at=MONDAY - timedelta(hours=1))
    assert kinds(offline) == {"offline"}
