"""Rules of cases (办件), pure: the materials check (一次性告知), the case state machine, deadlines in
working days with suspensions (挂起), yellow and red cards (黄牌/红牌), and applicant data checks and masks.

No database, bus or web imports here: the app loads, these functions decide.

Deadlines. A case of a promised matter (承诺件) accepted on day A with a limit of N working days is due
at the end of the N-th working day after A (次日起算, see ``shared/workdays.py``). A suspension that starts on
day S and ends on day R stops the clock for the days in ``(S, R]``: the day it starts still counts (work
was done on it), the day it ends does not (counting restarts the next day, as after acceptance). While a
suspension is open the due date is unknown (``None``), unless the deadline had already passed before it
began: a suspension never rescues an overdue case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from shared import errors
from shared.workdays import WorkCalendar, end_of_day

# --- errors ---------------------------------------------------------------------------------------


class MattersError(errors.DomainError):
    """A rule was broken. Each rule's error subclasses a kind of ``shared.errors`` (``Conflict`` 409,
    ``Unprocessable`` 422), which the HTTP layer maps; its JSON ``error`` code is the class name. Messages never
    carry personal data."""


class CaseNotInState(errors.Conflict, MattersError):
    pass


class StepOutOfOrder(errors.Conflict, MattersError):
    pass


class UnknownMaterial(errors.Unprocessable, MattersError):
    pass


class NotYourDepartment(errors.Forbidden, MattersError):
    pass


class NotForThisRole(errors.Forbidden, MattersError):
    pass


class RecheckBySameStaff(errors.Conflict, MattersError):
    pass


# --- values ---------------------------------------------------------------------------------------


class Kind(StrEnum):
    INSTANT = "instant"  # 即办件: completed at the window
    PROMISED = "promised"  # 承诺件: completed within the promised limit (承诺时限)


class Status(StrEnum):
    MATERIALS_MISSING = "materials_missing"  # 一次性告知单 issued; nothing accepted
    ACCEPTED = "accepted"  # 已受理, being processed (the clock runs)
    SUSPENDED = "suspended"  # 挂起 (the clock stops)
    COMPLETED = "completed"  # 办结 (approved or rejected)
    READY_FOR_PICKUP = "ready_for_pickup"  # 待领取
    PICKED_UP = "picked_up"  # 已领取


class Result(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class Level(StrEnum):
    YELLOW = "yellow"  # 黄牌: the deadline is near
    RED = "red"  # 红牌: overdue


ACCEPT_STEP = "accept"  # 前台受理, done when the window accepts
REVIEW_STEP, RECHECK_STEP = "review", "recheck"  # 审核 and 复核: never by the same person (check_step_person)
STEP_NAMES = {"accept": "前台受理", "review": "后台审核", "recheck": "复核", "complete": "办结"}
DEFAULT_STEPS = (REVIEW_STEP, RECHECK_STEP)  # 后台审核 → 复核, between 前台受理 and 办结

SUSPEND_REASONS = {  # 挂起原因 (暂停计时): the time these take is not counted
    "hearing": "听证",
    "appraisal": "鉴定",
    "expert_review": "专家评审",
    "inspection": "现场核查",
    "supplement": "补正材料",
    "other": "其他",
}

# status → action → status after it
TRANSITIONS: dict[Status, dict[str, Status]] = {
    Status.MATERIALS_MISSING: {},
    Status.ACCEPTED: {"step": Status.ACCEPTED, "suspend": Status.SUSPENDED, "complete": Status.COMPLETED},
    Status.SUSPENDED: {"resume": Status.ACCEPTED},
    Status.COMPLETED: {"ready_for_pickup": Status.READY_FOR_PICKUP},
    Status.READY_FOR_PICKUP: {"picked_up": Status.PICKED_UP},
    Status.PICKED_UP: {},
}
ACTION_NAMES = {"step": "办理环节", "suspend": "挂起", "resume": "恢复计时", "complete": "办结",
                "ready_for_pickup": "通知领取", "picked_up": "领取"}
STATUS_NAMES = {Status.MATERIALS_MISSING: "材料不全(已一次性告知)", Status.ACCEPTED: "办理中",
                Status.SUSPENDED: "挂起", Status.COMPLETED: "已办结", Status.READY_FOR_PICKUP: "待领取",
                Status.PICKED_UP: "已领取"}


def next_status(status: Status, action: str) -> Status:
    """The status after ``action``, or CaseNotInState naming what the case can do now."""
    allowed = TRANSITIONS[status]
    if action not in allowed:
        can = "、".join(ACTION_NAMES[a] for a in allowed) or "无"
        raise CaseNotInState(
            f"办件{STATUS_NAMES[status]}，不能{ACTION_NAMES.get(action, action)}（可：{can}） / "
            f"a case that is {status.value} cannot {action}")
    return allowed[action]


def check_step(status: Status, planned: Sequence[str], done: Sequence[str], step: str) -> Status:
    """A back-office step (后台审核, 复核 …) completes in the planned order."""
    after = next_status(status, "step")
    pending = [s for s in planned if s not in done]
    if step not in planned:
        raise StepOutOfOrder(f"本事项没有环节 {step}（环节：{'、'.join(planned) or '无'}） / no step {step}")
    if step in done:
        raise StepOutOfOrder(f"环节 {step} 已完成 / step {step} is already done")
    if pending[0] != step:
        raise StepOutOfOrder(f"请先完成环节 {pending[0]} / step {pending[0]} comes first")
    return after


def check_step_person(step: str, planned: Sequence[str], done_by: Mapping[str, str], staff_id: str) -> None:
    """审核/复核: where a matter has both, the recheck is done by someone other than the reviewer (``done_by``:
    step code → the staff id who did it)."""
    reviewer = done_by.get(REVIEW_STEP)
    if step == RECHECK_STEP and REVIEW_STEP in planned and reviewer == staff_id:
        raise RecheckBySameStaff(f"复核须由审核人以外的另一人办理（审核已由{reviewer}办理） / "
                                 f"the recheck must be done by someone other than the reviewer ({reviewer})")


def check_complete(status: Status, planned: Sequence[str], done: Sequence[str], result: Result) -> Status:
    """Approval (办结) needs every step done; a rejection may come at any step."""
    after = next_status(status, "complete")
    pending = [s for s in planned if s not in done]
    if result is Result.APPROVED and pending:
        raise StepOutOfOrder(f"尚有环节未完成：{'、'.join(pending)} / steps still pending: {', '.join(pending)}")
    return after


def check_ready_for_pickup(status: Status, result: Result | None, pickup_item: str | None) -> Status:
    after = next_status(status, "ready_for_pickup")
    if pickup_item is None:
        raise CaseNotInState("本事项无需领取证件 / this matter has nothing to pick up")
    if result is not Result.APPROVED:
        raise CaseNotInState("未准予的办件没有可领取的证件 / a rejected case has nothing to pick up")
    return after


def next_steps(status: Status, planned: Sequence[str], done: Sequence[str], result: Result | None,
               has_pickup: bool) -> list[str]:
    """What the case waits for: the next back-office step (its code), ``complete`` once they are done, ``resume``
    while suspended, then ``ready_for_pickup`` and ``picked_up`` for an approved case with something to collect.
    Empty for a closed case (rejected, approved with nothing to collect, picked up, materials missing)."""
    if status is Status.ACCEPTED:
        pending = [s for s in planned if s not in done]
        return [pending[0]] if pending else ["complete"]
    if status is Status.SUSPENDED:
        return ["resume"]
    if status is Status.COMPLETED and result is Result.APPROVED and has_pickup:
        return ["ready_for_pickup"]
    if status is Status.READY_FOR_PICKUP:
        return ["picked_up"]
    return []


# --- who may do what (窗口、后台、大厅负责人) --------------------------------------------------------------

BACKOFFICE = "backoffice"  # 后台办理 (科室): the cases of its department, never acceptance
MANAGER = "manager"  # 大厅负责人/值班长


def check_may_accept(role: str) -> None:
    """受理 is a window's act (首问负责): back-office staff do not accept cases."""
    if role == BACKOFFICE:
        raise NotForThisRole("受理须在窗口办理，后台人员不能受理办件 / accepting a case is a window clerk's act")


def check_case_access(role: str, staff_department: str | None, case_department: str) -> None:
    """Window clerks and managers handle any case of the site; back-office staff those of their department only."""
    if role == BACKOFFICE and staff_department != case_department:
        raise NotYourDepartment(f"该办件属于{case_department}，仅该科室后台人员可查看和办理 / this case belongs to "
                                f"{case_department}: only its back office may see or handle it")


def worklist_department(role: str, staff_department: str | None, asked: str | None) -> str | None:
    """The department a worklist shows (None: all): a back office sees its own, a manager all or the one asked."""
    if role == MANAGER:
        return asked
    if role != BACKOFFICE or not staff_department:
        raise NotForThisRole("工作台仅供后台科室人员和大厅负责人使用 / the worklist is for back-office staff and "
                             "hall managers")
    if asked is not None and asked != staff_department:
        raise NotYourDepartment(f"只能查看本科室（{staff_department}）的办件 / back-office staff see their own "
                                f"department's cases only")
    return staff_department


def worklist_rank(status: Status, remaining: int | None) -> tuple[int, int]:
    """Order of the worklist: running cases by working days left (overdue first), then finished cases waiting
    for pickup, suspended cases (no due date) last."""
    if remaining is not None:
        return 0, remaining
    return (2, 0) if status is Status.SUSPENDED else (1, 0)


# --- materials (一次性告知) ---------------------------------------------------------------------------


class MaterialLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def required(self) -> bool: ...


def missing_materials(materials: Sequence[MaterialLike], provided: Iterable[str],
                      applicable: Iterable[str] = ()) -> list[str]:
    """Every material still missing, at once (一次性告知): the required ones, and the conditional ones
    whose condition the clerk marked as applying. Unknown ids are refused, never ignored."""
    ids = [m.id for m in materials]
    provided_set, applicable_set = set(provided), set(applicable)
    unknown = sorted((provided_set | applicable_set) - set(ids))
    if unknown:
        raise UnknownMaterial(f"本事项没有这些材料：{', '.join(unknown)} / unknown material ids: {', '.join(unknown)}")
    return [m.id for m in materials if (m.required or m.id in applicable_set) and m.id not in provided_set]


# --- deadlines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suspension:
    """The clock stops for the days in ``(start, end]``; ``end`` is None while suspended."""

    start: date
    end: date | None = None

    def stops(self, day: date) -> bool:
        return day > self.start and (self.end is None or day <= self.end)


def due_date(cal: WorkCalendar, accepted_on: date, days: int,
             suspensions: Sequence[Suspension] = ()) -> date | None:
    """The last day of the limit (the calendar's working-day count with the suspended days left out), or None
    while an open suspension stops the clock before reaching it."""
    if days == 0:
        return accepted_on
    closed = [s for s in suspensions if s.end is not None]
    due = cal.add_working_days(accepted_on, days, stopped=lambda day: any(s.stops(day) for s in closed))
    open_from = min((s.start for s in suspensions if s.end is None), default=None)
    return None if open_from is not None and due > open_from else due


def deadline(cal: WorkCalendar, accepted_on: date, days: int, tz: ZoneInfo,
             suspensions: Sequence[Suspension] = ()) -> tuple[date | None, datetime | None]:
    """``(due_on, due_at)`` of a case: its last day and the end of that day (``shared.workdays.end_of_day``),
    both None while the clock is stopped."""
    due_on = due_date(cal, accepted_on, days, suspensions)
    return due_on, end_of_day(due_on, tz) if due_on else None


def working_days_used(cal: WorkCalendar, accepted_on: date, until: date,
                      suspensions: Sequence[Suspension] = ()) -> int:
    """Working days in ``(accepted_on, until]`` with the clock running."""
    return cal.count_between(accepted_on, until, stopped=lambda d: any(s.stops(d) for s in suspensions))


def remaining_working_days(cal: WorkCalendar, today: date, due_on: date) -> int:
    """Working days left after today up to the due date; negative when overdue (working days past it)."""
    if today <= due_on:
        return cal.count_between(today, due_on)
    return -cal.count_between(due_on, today)


@dataclass(frozen=True)
class CardPolicy:
    """When a yellow card is shown: at most ``yellow_days_left`` working days left, or at least
    ``yellow_used_pct`` % of the limit used (either rule may be off). Red: past the deadline."""

    yellow_days_left: int | None = 1
    yellow_used_pct: int | None = None

    def __post_init__(self) -> None:
        if self.yellow_days_left is not None and self.yellow_days_left < 0:
            raise ValueError("yellow_days_left must not be negative")
        if self.yellow_used_pct is not None and not 1 <= self.yellow_used_pct <= 100:
            raise ValueError("yellow_used_pct must be within 1..100")


def card_level(cal: WorkCalendar, *, now: datetime, due_on: date, limit_days: int,
               policy: CardPolicy) -> Level | None:
    """The card a running case deserves now (``now`` in the site's time zone)."""
    if now > end_of_day(due_on, _tz(now)):
        return Level.RED
    left = remaining_working_days(cal, now.date(), due_on)
    if policy.yellow_days_left is not None and left <= policy.yellow_days_left:
        return Level.YELLOW
    if policy.yellow_used_pct is not None and limit_days > 0 and \
            (limit_days - left) * 100 >= policy.yellow_used_pct * limit_days:
        return Level.YELLOW
    return None


def deadline_state(cal: WorkCalendar, *, now: datetime, status: Status, kind: Kind, due_on: date | None,
                   limit_days: int, policy: CardPolicy) -> tuple[int | None, Level | None]:
    """Working days left and the card of a promised case whose deadline counts (running, or suspended after it
    had passed: a suspension never rescues it); ``(None, None)`` for any other case."""
    if kind is not Kind.PROMISED or due_on is None or status not in (Status.ACCEPTED, Status.SUSPENDED):
        return None, None
    return (remaining_working_days(cal, now.date(), due_on),
            card_level(cal, now=now, due_on=due_on, limit_days=limit_days, policy=policy))


def cards_to_emit(level: Level | None, already: Iterable[str]) -> list[Level]:
    """Cards to emit now, each at most once per case; once red, a yellow is no longer news."""
    done = set(already)
    if level is None or level.value in done or Level.RED.value in done:
        return []
    return [level]


def _tz(dt: datetime) -> ZoneInfo:
    if not isinstance(dt.tzinfo, ZoneInfo):
        raise ValueError("a site-local aware datetime is required")
    return dt.tzinfo
