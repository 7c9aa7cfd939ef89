"""The simulator's pure parts: the hall day's arrival curve (a morning peak, a lunch lull, an afternoon peak),
Poisson arrivals, lognormal service times, which windows are staffed, and the accelerated clock."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

DAY_START_MIN, DAY_END_MIN = 8 * 60 + 15, 17 * 60 + 45  # the simulated day loops over 08:15–17:45
MORNING = (8 * 60 + 30, 12 * 60)
LUNCH = (12 * 60, 14 * 60 + 30)
AFTERNOON = (14 * 60 + 30, 17 * 60 + 30)
# citizens per day: 株洲 "每天接待群众达1000多人次"; 衡南 31 windows; a township station a few dozen
DAILY_VISITORS = {"zhuzhou": 1100, "hengnan": 900, "baogai": 50}
VISITORS_PER_WINDOW = 30
# how common a matter is relative to others (default 1.0); the heavy ones are the everyday ones
MATTER_WEIGHTS = {
    "kk-bhk": 3.0, "yb-ydjy": 2.5, "yb-fybx": 2.5, "yl-zgrz": 2.5, "jf-sbjf": 3.0, "yb-mtdj": 1.5,
    "yl-gxzy": 1.5, "yl-txsq": 1.5, "jy-jydj": 1.5, "sb-bxj": 1.5, "yl-lhjy": 1.5, "kk-sl": 1.5,
    "yl-cxcb": 2.0, "yb-cxcb": 2.0, "jy-cydk": 0.3, "ld-jcts": 0.3, "gs-ldnl": 0.5, "yl-sfsl": 0.5,
}
NO_SHOW_RATE, GREEN_RATE, STAFFED_SHARE = 0.05, 0.05, 0.8


# --- pure parts: the arrival curve, sampling --------------------------------------------------
def arrival_weight(minute: float) -> float:
    """Relative arrival intensity at ``minute`` of the day (0 outside office hours)."""
    if MORNING[0] <= minute < MORNING[1]:
        return 0.6 + 1.6 * math.exp(-0.5 * ((minute - 600) / 55) ** 2)  # peak around 10:00
    if LUNCH[0] <= minute < LUNCH[1]:
        return 0.15  # tickets may be taken over lunch, few come
    if AFTERNOON[0] <= minute < AFTERNOON[1]:
        taper = min(1.0, 0.3 + 0.7 * (AFTERNOON[1] - minute) / 30)  # fewer in the last half hour
        return (0.45 + 0.8 * math.exp(-0.5 * ((minute - 915) / 45) ** 2)) * taper  # peak around 15:15
    return 0.0


@lru_cache(maxsize=1)
def _weight_per_day() -> float:
    return sum(arrival_weight(m + 0.5) for m in range(24 * 60))


def arrival_rate(minute: float, daily_total: float) -> float:
    """Expected arrivals per minute at ``minute`` of the day, for ``daily_total`` visitors a day."""
    return daily_total * arrival_weight(minute) / _weight_per_day()


def expected_arrivals(start_min: float, end_min: float, daily_total: float, step: float = 0.25) -> float:
    n = max(1, int((end_min - start_min) / step))
    width = (end_min - start_min) / n
    return sum(arrival_rate(start_min + (i + 0.5) * width, daily_total) for i in range(n)) * width


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; fine for the small means of one tick)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def sample_service_s(rng: random.Random, service_s: float, sigma: float = 0.35) -> float:
    """Service time around ``service_s`` (its median), lognormal, clipped to [0.25×, 3×]."""
    return min(max(service_s * math.exp(rng.gauss(0.0, sigma)), 0.25 * service_s), 3.0 * service_s)


def pick_staffed_windows(rng: random.Random, staff: list[dict[str, Any]], share: float) -> list[dict[str, Any]]:
    """The A-role clerks who sign in: ``share`` of the windows, at least one."""
    count = max(1, round(len(staff) * share)) if staff else 0
    return sorted(rng.sample(staff, count), key=lambda s: s["window_no"])


@dataclass
class SimClock:
    speed: float
    start_min: float = DAY_START_MIN
    t0: float = field(default_factory=time.monotonic)

    def elapsed_min(self) -> float:
        return (time.monotonic() - self.t0) * self.speed / 60.0

    def minute_of_day(self) -> float:
        span = DAY_END_MIN - DAY_START_MIN
        return DAY_START_MIN + (self.start_min - DAY_START_MIN + self.elapsed_min()) % span

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(max(sim_s / self.speed, 0.02))


def hhmm(minute: float) -> str:
    return f"{int(minute // 60):02d}:{int(minute % 60):02d}"
