"""The pure parts of the traffic simulator: the arrival curve and the samplers; made-up applicants; the cases'
history, the back office's pace and the ratings; the development clock that dates a request in the past."""

from __future__ import annotations

import json
import random
import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hallnet import demo, devclock
from hallnet import sim_cases as cm
from hallnet import sim_traffic as sim
from hallnet.procs import service_module
from hallnet.sim_cases import MatterInfo
from hallnet.sim_people import fake_applicant
from hallnet.sim_ratings import follow_up_step, rating_body
from services.matters import domain as md
from services.matters import personal
from services.matters.catalog import load_catalog
from shared.workdays import WorkCalendar


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311  (seeded, reproducible test randomness; nothing secret)


def _at(hhmm: str) -> float:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def test_nobody_arrives_outside_office_hours() -> None:
    """No arrivals before 08:30, after 17:30, or at night."""
    for t in ("00:00", "07:00", "08:29", "17:30", "18:00", "23:59"):
        assert sim.arrival_weight(_at(t)) == 0.0, t
    assert sim.arrival_weight(_at("08:30")) > 0


def test_morning_peak_is_the_highest_and_lunch_the_lowest() -> None:
    """The busiest hour is within 9–11; the afternoon peak is smaller; the lunch break is quiet."""
    busiest = max(range(24 * 60), key=sim.arrival_weight)
    assert _at("09:00") <= busiest <= _at("11:00")
    morning = sim.expected_arrivals(_at("09:00"), _at("11:00"), 1000)
    afternoon = sim.expected_arrivals(_at("14:30"), _at("16:30"), 1000)
    lunch = sim.expected_arrivals(_at("12:00"), _at("14:00"), 1000)
    assert morning > afternoon > lunch > 0
    assert sim.arrival_rate(_at("15:15"), 1000) > sim.arrival_rate(_at("17:20"), 1000)  # tapers before closing


@pytest.mark.parametrize("daily", [50, 1100])
def test_a_day_brings_the_daily_total(daily: int) -> None:
    """Integrated over a day, the arrival rate gives the configured number of visitors."""
    assert sim.expected_arrivals(0, 24 * 60, daily) == pytest.approx(daily, rel=0.01)


def test_poisson_draws_have_the_requested_mean() -> None:
    """Poisson draws average to their mean (small means per tick, and the normal approximation)."""
    rng = _rng(7)
    for mean in (0.05, 1.5, 40.0):
        draws = [sim.poisson(rng, mean) for _ in range(20_000)]
        assert statistics.fmean(draws) == pytest.approx(mean, rel=0.05)
        assert min(draws) >= 0
    assert sim.poisson(rng, 0.0) == 0


def test_service_times_spread_around_the_matters_service_time() -> None:
    """Samples have the matter's service_s as median, a real spread, and stay within [0.25×, 3×]."""
    rng = _rng(11)
    samples = [sim.sample_service_s(rng, 600) for _ in range(20_000)]
    assert statistics.median(samples) == pytest.approx(600, rel=0.03)
    assert statistics.pstdev(samples) > 100
    assert min(samples) >= 150 and max(samples) <= 1800


def test_about_eighty_percent_of_windows_are_staffed_by_their_a_clerk() -> None:
    """The simulator signs in ~80% of the A-role clerks (at least one), each at a distinct window."""
    staff = [{"staff_id": f"zz{n:04d}", "password": "x", "window_no": n} for n in range(1, 46)]
    chosen = sim.pick_staffed_windows(_rng(3), staff, sim.STAFFED_SHARE)
    assert len(chosen) == 36
    assert len({c["window_no"] for c in chosen}) == 36
    assert len(sim.pick_staffed_windows(_rng(3), staff[:1], sim.STAFFED_SHARE)) == 1


def test_the_simulated_clock_loops_over_the_office_day() -> None:
    """The simulated time of day starts where asked and wraps from 17:45 back to 08:15."""
    clock = sim.SimClock(speed=60, start_min=_at("17:40"))
    clock.t0 -= 10 * 60 / 60  # ten simulated minutes ago at speed 60
    assert clock.minute_of_day() == pytest.approx(_at("08:20"), abs=0.1)
    assert sim.hhmm(_at("09:05")) == "09:05"


# --- cases, ratings and the development clock ---------------------------------------------------------------
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 2, 10, 30, tzinfo=TZ)  # a Wednesday: the calendar of 2026 is known


def _promised(site: str) -> list[MatterInfo]:
    """The promised matters of a demo site, as the matters service describes them."""
    ids = {m["matter_id"] for m in json.loads((demo.DEMO_DIR / f"{site}.json").read_text(encoding="utf-8"))["matters"]}
    out = []
    for spec in load_catalog():
        if spec.id in ids and spec.kind.value == "promised":
            out.append(MatterInfo(spec.id, spec.department, spec.promised_days,
                                  tuple(s.code for s in spec.back_office_steps), spec.pickup is not None,
                                  tuple(m.id for m in spec.materials if m.required)))
    return out


def test_made_up_applicants_pass_the_services_checks() -> None:
    """Every made-up ID number has a valid check digit and birth date, every phone is a mainland mobile."""
    rng = _rng(5)
    for _ in range(500):
        a = fake_applicant(rng, "zhuzhou", NOW.date())
        assert personal.normalize_id_no(a.id_no) == a.id_no and a.id_no[:4] == "4302"
        assert personal.normalize_phone(a.phone) == a.phone
        assert personal.normalize_name(a.name) == a.name
    assert fake_applicant(_rng(1), "hengnan", NOW.date()).id_no.startswith("430422")


def test_working_days_back_skips_weekends_and_holidays() -> None:
    """Counting back in working days skips the weekend and 国庆 (1–7 Oct 2026) and counts its make-up Saturday."""
    cal = WorkCalendar()
    assert cm.working_days_back(cal, date(2026, 12, 2), 2) == date(2026, 11, 30)  # (30 Nov, 2 Dec]: 1 and 2 Dec
    assert cm.working_days_back(cal, date(2026, 12, 2), 3) == date(2026, 11, 27)  # over the weekend
    assert cm.working_days_back(cal, date(2026, 10, 9), 2) == date(2026, 9, 30)  # over 国庆
    assert cm.working_days_back(cal, date(2026, 10, 12), 1) == date(2026, 10, 10)  # the make-up Saturday (调休)


@pytest.mark.parametrize("site", ["zhuzhou", "hengnan", "baogai"])
def test_the_history_shows_red_and_yellow_cards_now_and_nothing_in_the_future(site: str) -> None:
    """Played back, the history gives every site at least one red and one yellow card by the matters service's
    own rules (today, on the real calendar), running cases without a card, and no action dated after now."""
    cal, matters = WorkCalendar(), {m.id: m for m in _promised(site)}
    plan = cm.plan_history(_rng(9), list(matters.values()), cal, NOW)
    seen: Counter[str] = Counter()
    for past in plan:
        m = matters[past.matter_id]
        moments = [past.accepted_at, *past.step_times, *([past.completed_at] if past.completed_at else [])]
        assert moments == sorted(moments) and moments[-1] < NOW, past
        assert NOW - past.accepted_at < timedelta(days=devclock.MAX_DAYS_BACK)
        assert len(past.step_times) <= len(m.steps)
        due = md.due_date(cal, past.accepted_at.date(), m.limit)
        assert due is not None
        card = md.card_level(cal, now=NOW, due_on=due, limit_days=m.limit, policy=md.CardPolicy())
        shown = "to_collect" if past.completed_at else (card.value if card else "running")
        assert shown == past.expect, (past, due)
        seen[shown] += 1
    assert seen["red"] >= 1 and seen["yellow"] >= 1 and seen["running"] >= 1, seen
    assert {p.department for p in plan} <= {m.department for m in matters.values()}


def test_the_back_office_takes_its_time_and_mostly_approves() -> None:
    """Cases rest about a working day between back-office actions; steps are done in order, now and then a
    suspension first; completions are mostly approvals; pickups and resumptions take their own calls."""
    rng = _rng(4)
    rests = [cm.rest_min(rng, "review") for _ in range(1000)]
    assert min(rests) >= 0.5 * cm.SIM_DAY_MIN and max(rests) <= 1.2 * cm.SIM_DAY_MIN
    actions = Counter(cm.choose_action(rng, "review")[0] for _ in range(2000))
    assert actions["steps"] > 1800 and 40 < actions["suspend"] < 160
    results = Counter(cm.choose_action(rng, "complete")[1]["result"] for _ in range(2000))  # type: ignore[index]  # a body
    assert results["approved"] > 1800 and results["rejected"] > 40
    assert cm.choose_action(rng, "ready_for_pickup") == ("ready-for-pickup", None)
    assert cm.choose_action(rng, "resume") == ("resume", None)
    assert cm.choose_action(rng, "picked_up") == ("picked-up", None)


def test_pad_ratings_are_mostly_good_and_bad_ones_name_a_reason() -> None:
    """About 8% of pad ratings are 差评 (≤ 不满意) with one or two reason tags; the rest 基本满意 or better without."""
    invitation = {"levels": [{"level": lv} for lv in (5, 4, 3, 2, 1)], "bad_max": 2,
                  "reasons": [{"key": "long_wait"}, {"key": "attitude"}, {"key": "unclear"}],
                  "indicators": [{"key": "efficiency"}, {"key": "attitude"}]}
    rng = _rng(8)
    bodies = [rating_body(rng, invitation, 3) for _ in range(5000)]
    bad = [b for b in bodies if b["level"] <= 2]
    assert 0.06 < len(bad) / len(bodies) < 0.10
    assert all(1 <= len(b["reasons"]) <= 2 for b in bad)
    assert all("reasons" not in b and b["level"] >= 3 for b in bodies if b["level"] > 2)
    assert Counter(b["level"] for b in bodies).most_common(1)[0][0] == 5
    assert all(b["channel"] == "pad" and b["window_no"] == 3 and set(b["indicators"]) == {"efficiency", "attitude"}
               for b in bodies)


def test_the_duty_manager_calls_back_then_has_it_rectified_then_closes() -> None:
    """The follow-up takes the service's next step in the order 回访核实, 整改, 办结, and leaves the rest alone."""
    assert follow_up_step({"status": "open", "next_actions": ["verify", "appeal"]}) == "verify"
    assert follow_up_step({"status": "verified", "next_actions": ["rectify", "explain", "appeal"]}) == "rectify"
    assert follow_up_step({"status": "rectified", "next_actions": ["close"]}) == "close"
    assert follow_up_step({"status": "appealed", "next_actions": []}) is None
    assert follow_up_step({"status": "verified"}) == "rectify"  # a service that does not say what is next


async def test_the_development_clock_dates_a_request_in_the_past_and_only_that_one() -> None:
    """A request with X-Hallnet-Dev-As-Of sees that time as now (and says so in the answer); one without it, or a
    concurrent one, sees the real time; the future, a naive time or more than 60 days back are refused (422)."""
    clock = devclock.dev_clock(TZ, real=lambda: NOW)

    async def now_app(scope: Any, receive: Any, send: Any) -> None:
        body = clock().isoformat().encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    app = devclock.DatedRequests(now_app, TZ, real=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://m.test") as http:
        past = "2026-11-20T09:30:00+08:00"
        r = await http.get("/", headers={"X-Hallnet-Dev-As-Of": past})
        assert r.status_code == 200 and r.text == past and r.headers["x-hallnet-dev-as-of"] == past
        plain = await http.get("/")
        assert plain.text == NOW.isoformat() and "x-hallnet-dev-as-of" not in plain.headers
        for bad in ("2026-12-03T09:00:00+08:00", "2026-11-20T09:30:00", "2026-09-01T09:00:00+08:00", "yesterday"):
            r = await http.get("/", headers={"X-Hallnet-Dev-As-Of": bad})
            assert r.status_code == 422 and r.json()["error"] == "invalid_input", bad
    assert devclock.HEADER not in {h.lower() for h in ("Authorization", "Content-Type", "Accept", "traceparent")}


def test_hallnet_up_runs_the_matters_service_through_the_development_clock_only() -> None:
    """Only the matters service of `hallnet up` runs through hallnet.devclock; the others as `services.<name>`."""
    assert service_module("matters") == "hallnet.devclock"
    assert service_module("queue") == "services.queue" and service_module("gateway") == "services.gateway"
