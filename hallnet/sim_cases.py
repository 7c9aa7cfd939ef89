"""Cases (办件) in the simulated halls: promised matters accepted at the windows (some with materials missing:
422 and the 一次性告知单), processed by the back office over the simulated days (steps, now and then a
suspension, completion, ready for pickup), collected by the citizen; and, once, a few weeks of history.

The history. Yellow and red cards (黄牌/红牌) need cases accepted working days ago, and deadlines are real working
days on the matters service's real clock: a demo that starts fresh has none, and no service can date a case in the
past. ``hallnet up`` runs the matters service through ``hallnet.devclock``: a request with ``X-Hallnet-Dev-As-Of``
is handled as if it came then (development only). Before the live day the simulator uses it to play back what
the last weeks would have brought: per department a case now overdue (its acceptance and steps dated
back), one due tomorrow, one or two running, one finished and waiting to be collected. From then on everything
is live and real: the service's own checker shows the cards, the back office works the backlog at its pace.
Without that clock (another matters service) there is no history: nothing is ever dated in the past otherwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.workdays import WorkCalendar

SIM_DAY_MIN = 9.5 * 60  # a simulated office day (08:15–17:45), in simulated minutes
MAX_CARD_LIMIT = 20  # matters promised in more working days than this get no overdue/near-due history
ACTION_SLOTS = (time(9, 20), time(10, 35), time(11, 30), time(14, 50), time(15, 55), time(16, 50))


@dataclass(frozen=True)
class MatterInfo:
    """A promised matter (承诺件) as the matters service describes it."""

    id: str
    department: str
    limit: int  # promised working days
    steps: tuple[str, ...]  # back-office steps, in order
    pickup: bool  # something to collect (证照)
    required: tuple[str, ...]  # required materials

    @classmethod
    def of(cls, m: dict[str, Any]) -> MatterInfo | None:
        """From ``GET /matters/api/v1/matters``; None for an instant matter."""
        if m.get("kind") != "promised":
            return None
        steps = [str(s["code"]) for s in m.get("steps") or []]
        mats = [str(x["id"]) for x in m.get("materials") or [] if x.get("required")]
        return cls(str(m["id"]), str(m["department"]), int(m["promised_days"]),
                   tuple(s for s in steps if s not in ("accept", "complete")), bool(m.get("pickup")), tuple(mats))


@dataclass(frozen=True)
class PastCase:
    """A case of the history: accepted at ``accepted_at``, its first ``len(step_times)`` steps done then, and
    completed (approved) at ``completed_at`` if given. ``expect``: what it shows now (red, yellow, running,
    to_collect)."""

    matter_id: str
    department: str
    accepted_at: datetime
    step_times: tuple[datetime, ...]
    completed_at: datetime | None
    expect: str


# --- pure: working days back, the history's plan, the back office's pace ------------------------------
def working_days_back(cal: WorkCalendar, day: date, n: int) -> date:
    """The latest working day ``d`` before ``day`` with exactly ``n`` working days in ``(d, day]``."""
    d = day - timedelta(days=1)
    for _ in range(400):
        if cal.is_workday(d) and cal.count_between(d, day) == n:
            return d
        d -= timedelta(days=1)
    raise ValueError(f"no working day {n} working days before {day}")


def at_office_time(day: date, rng: random.Random, tz: ZoneInfo, earliest: time = time(9, 0)) -> datetime:
    """A moment of office hours on ``day`` (morning or afternoon), not before ``earliest``."""
    slots = [t for t in ACTION_SLOTS if t >= earliest] or [ACTION_SLOTS[-1]]
    t = rng.choice(slots)
    return datetime.combine(day, t, tzinfo=tz) + timedelta(minutes=rng.randint(0, 25))


def spread(cal: WorkCalendar, start: datetime, count: int, before: date, rng: random.Random) -> list[datetime]:
    """``count`` increasing moments after ``start``, on the working days after it and before ``before`` (on the day
    of ``start`` itself when there are none), one working day apart where the days allow."""
    tz = start.tzinfo
    assert isinstance(tz, ZoneInfo)
    days, d = [], start.date() + timedelta(days=1)
    while d < before:
        if cal.is_workday(d):
            days.append(d)
        d += timedelta(days=1)
    out: list[datetime] = []
    for k in range(count):
        day = days[min(k * len(days) // count, len(days) - 1)] if days else start.date()
        floor = max([start, *out]) + timedelta(minutes=20)
        at = at_office_time(day, rng, tz)
        out.append(at if at > floor else floor)
    return out


def plan_history(rng: random.Random, matters: list[MatterInfo], cal: WorkCalendar, now: datetime) -> list[PastCase]:
    """What the last weeks brought, per department (the matter with the shortest limit stands for it): alternately
    a case overdue by one or two working days (left lying after acceptance or its first step) or one due at the end
    of the next working day (yellow at the default one day left); one or two running; and, for a matter with
    something to collect, one completed yesterday or before, for the back office to call in (通知领取)."""
    tz = now.tzinfo
    assert isinstance(tz, ZoneInfo)
    today = now.date()
    depts: dict[str, MatterInfo] = {}
    for m in sorted(matters, key=lambda m: m.limit):
        depts.setdefault(m.department, m)
    out: list[PastCase] = []
    for i, (dept, m) in enumerate(depts.items()):
        if m.limit <= MAX_CARD_LIMIT:
            if i % 2 == 0:  # 红牌: overdue, left lying after acceptance or after its first step
                due = working_days_back(cal, today, rng.choice((1, 2)))
                done = rng.randint(0, min(1, len(m.steps) - 1))
                out.append(_past(rng, cal, m, working_days_back(cal, due, m.limit), done, today, "red", tz=tz))
            elif m.limit >= 2:  # 黄牌: due at the end of the next working day
                due = cal.add_working_days(today, 1)
                out.append(_past(rng, cal, m, working_days_back(cal, due, m.limit), min(len(m.steps) - 1, 1),
                                 today, "yellow", tz=tz))
        for _ in range(rng.choice((1, 2)) if m.limit >= 4 else 0):  # running, no card (2+ working days left)
            back = rng.randint(1, min(3, m.limit - 2))
            out.append(_past(rng, cal, m, working_days_back(cal, today, back), rng.randint(0, min(1, len(m.steps))),
                             today, "running", tz=tz))
        collect = next((x for x in matters if x.department == dept and x.pickup and 2 <= x.limit <= MAX_CARD_LIMIT),
                       None)
        if collect is not None:  # finished before today, the certificate not yet called in
            accepted = working_days_back(cal, today, min(collect.limit - 1, 4))
            out.append(_past(rng, cal, collect, accepted, len(collect.steps), today, "to_collect", tz=tz,
                             complete=True))
    return sorted(out, key=lambda p: p.accepted_at)


def _past(rng: random.Random, cal: WorkCalendar, m: MatterInfo, accepted_on: date, steps_done: int, today: date,
          expect: str, *, tz: ZoneInfo, complete: bool = False) -> PastCase:
    accepted_at = at_office_time(accepted_on, rng, tz)
    times = spread(cal, accepted_at, steps_done + (1 if complete else 0), today, rng)
    return PastCase(m.id, m.department, accepted_at, tuple(times[:steps_done]),
                    times[steps_done] if complete else None, expect)


def rest_min(rng: random.Random, action: str) -> float:
    """Simulated minutes a case rests after ``action`` before the back office looks at it again: a step, a
    suspension or a completion about a working day (the next desk, the expert, the signature); the citizen comes
    for a certificate a few hours to a day and a half after the SMS."""
    if action == "ready_for_pickup":
        return rng.uniform(0.3, 1.5) * SIM_DAY_MIN
    return rng.uniform(0.5, 1.2) * SIM_DAY_MIN


def choose_action(rng: random.Random, next_step: str, *, suspend_rate: float = 0.05,
                  reject_rate: float = 0.05) -> tuple[str, dict[str, str] | None]:
    """The back office's next call for a case waiting for ``next_step`` (a step code, ``complete``, ``resume``,
    ``ready_for_pickup`` or ``picked_up``): (the path after ``/cases/{id}/``, its body)."""
    if next_step == "complete":
        return "complete", {"result": "rejected" if rng.random() < reject_rate else "approved"}
    if next_step in ("resume", "ready_for_pickup", "picked_up"):
        return next_step.replace("_", "-"), None
    if rng.random() < suspend_rate:  # 挂起: an appraisal, an inspection or an expert's opinion first
        return "suspend", {"reason_code": rng.choice(("appraisal", "inspection", "expert_review"))}
    return "steps", {"step": next_step}
