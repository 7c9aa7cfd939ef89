"""The pure parts of the traffic simulator: the arrival curve and the samplers."""

from __future__ import annotations

import random
import statistics

import pytest

from hallnet import simulate as sim


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
