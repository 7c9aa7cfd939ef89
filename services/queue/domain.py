"""Queue rules (叫号规则), pure: which ticket a window calls next, ticket numbers, waits, transitions.

No database, bus or web imports here. The store fetches candidates; these functions decide.

Calling order. Every waiting ticket gets an *effective time*; the window calls the smallest::

    effective = sort_ts - priority_bonus + preference_rank * preference_step

- ``sort_ts`` is when the ticket joined the line. A transfer (转移) keeps it, so the citizen keeps
  the place they had; a re-queued no-show (过号重排) gets a later one.
- ``priority_bonus`` is ``green_bonus_s`` for the green channel (绿色通道) and ``appointment_bonus_s``
  for an appointment (预约) whose slot is due (within ``appointment_early_s``); 0 otherwise.
- ``preference_rank`` is the position of the ticket's queue in the window's list (科室柜员制); 0 for a
  ticket transferred to this very window.

Aging comes for free: a normal ticket can be passed only by tickets that joined at most
``green_bonus_s`` (or ``appointment_bonus_s`` + ``preference_step``…) after it, so nobody starves.
Ties fall back to FIFO (``sort_ts``, then the number).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

# --- errors ---------------------------------------------------------------------------------------


class QueueError(Exception):
    """A rule of the hall was broken; ``kind`` maps to an HTTP status at the edge."""

    kind = "conflict"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TicketNotInState(QueueError):
    pass


class WindowNotOpen(QueueError):
    pass


class IssuingClosed(QueueError):
    pass


class CallLimitReached(QueueError):
    pass


class NotYourTicket(QueueError):
    kind = "forbidden"


# --- values ---------------------------------------------------------------------------------------


class Status(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"  # waiting again, at another queue or window, in its original place
    CANCELLED = "cancelled"


WAITING_STATES = frozenset({Status.WAITING, Status.TRANSFERRED})
AT_WINDOW_STATES = frozenset({Status.CALLED, Status.SERVING})


class Priority(StrEnum):
    NORMAL = "normal"
    GREEN = "green"  # 绿色通道: 老弱病残孕, 急事急办
    APPOINTMENT = "appointment"  # 预约


class WindowState(StrEnum):
    CLOSED = "closed"  # nobody signed in
    OPEN = "open"
    PAUSED = "paused"


@dataclass(frozen=True)
class Policy:
    """A site's calling policy; every number is configurable per site."""

    green_bonus_s: int = 900
    appointment_bonus_s: int = 1200
    appointment_early_s: int = 900
    preference_step_s: int = 600
    max_calls: int = 3  # first call plus recalls
    no_show_after_calls: int = 2  # 过号 allowed once the ticket was called this often
    requeue_positions: int = 3  # a re-queued no-show goes behind this many waiting tickets (过号顺延)

    def __post_init__(self) -> None:
        if min(self.green_bonus_s, self.appointment_bonus_s, self.appointment_early_s,
               self.preference_step_s, self.requeue_positions) < 0:
            raise ValueError("policy values must not be negative")
        if self.max_calls < 1 or not 1 <= self.no_show_after_calls <= self.max_calls:
            raise ValueError("need 1 <= no_show_after_calls <= max_calls")


@dataclass(frozen=True)
class Candidate:
    """A waiting ticket as the calling rule sees it."""

    id: uuid.UUID
    queue_id: uuid.UUID
    seq: int  # the number within its queue and day
    sort_ts: datetime
    priority: Priority = Priority.NORMAL
    appointment_at: datetime | None = None
    target_window_no: int | None = None


def appointment_due(c: Candidate, now: datetime, policy: Policy) -> bool:
    return (
        c.priority is Priority.APPOINTMENT
        and c.appointment_at is not None
        and c.appointment_at - timedelta(seconds=policy.appointment_early_s) <= now
    )


def priority_bonus_s(c: Candidate, now: datetime, policy: Policy) -> int:
    if c.priority is Priority.GREEN:
        return policy.green_bonus_s
    if appointment_due(c, now, policy):
        return policy.appointment_bonus_s
    return 0


def effective_time(c: Candidate, window_no: int, queue_ids: Sequence[uuid.UUID], now: datetime,
                   policy: Policy) -> datetime:
    """The time the ticket counts as having joined, for this window (smaller is called first)."""
    if c.target_window_no is not None and c.target_window_no == window_no:
        rank = 0
    else:
        rank = queue_ids.index(c.queue_id)
    shift = rank * policy.preference_step_s - priority_bonus_s(c, now, policy)
    return c.sort_ts + timedelta(seconds=shift)


def eligible(c: Candidate, window_no: int, queue_ids: Sequence[uuid.UUID]) -> bool:
    """A ticket sent to a given window is for that window only; otherwise its queue must be served."""
    if c.target_window_no is not None:
        return c.target_window_no == window_no
    return c.queue_id in queue_ids


def choose_next(candidates: Iterable[Candidate], *, window_no: int, queue_ids: Sequence[uuid.UUID],
                now: datetime, policy: Policy) -> Candidate | None:
    """The ticket this window calls next, or None when nobody it serves is waiting."""
    best: Candidate | None = None
    best_key: tuple[datetime, datetime, int] | None = None
    for c in candidates:
        if not eligible(c, window_no, queue_ids):
            continue
        key = (effective_time(c, window_no, queue_ids, now, policy), c.sort_ts, c.seq)
        if best_key is None or key < best_key:
            best, best_key = c, key
    return best


def choose_for_windows(lines: Iterable[Sequence[Candidate]], windows: Sequence[tuple[int, Sequence[uuid.UUID]]], *,
                       now: datetime, policy: Policy) -> list[Candidate | None]:
    """Windows that call at the same moment, decided together in their order of arrival: each gets what
    ``choose_next`` would give it, with the tickets called by the windows before it gone.

    ``lines`` are the calling groups (a queue's normal, green, due and later appointment tickets; the tickets
    sent to one window), each in its own calling order (``sort_ts``, then the number); a window's best
    ticket is always the first uncalled ticket of one of them, so only those heads are compared.
    """
    groups = [list(g) for g in lines]
    pos = [0] * len(groups)
    taken: set[uuid.UUID] = set()
    picks: list[Candidate | None] = []
    for window_no, queue_ids in windows:
        heads = []
        for i, g in enumerate(groups):
            while pos[i] < len(g) and g[pos[i]].id in taken:
                pos[i] += 1
            if pos[i] < len(g):
                heads.append(g[pos[i]])
        pick = choose_next(heads, window_no=window_no, queue_ids=queue_ids, now=now, policy=policy)
        if pick is not None:
            taken.add(pick.id)
        picks.append(pick)
    return picks


# --- numbers --------------------------------------------------------------------------------------


def format_number(prefix: str, seq: int) -> str:
    """A001 … A999, then A1000: numbers are for people and reset every day."""
    if seq < 1:
        raise ValueError("ticket numbers start at 1")
    return f"{prefix}{seq:03d}"


# --- waiting estimates ----------------------------------------------------------------------------


def estimate_wait_s(ahead: int, windows_open: int, avg_service_s: float) -> int:
    """Expected wait for someone with ``ahead`` people in front, served by ``windows_open`` windows.

    With no window open the estimate assumes one will open (the hall has to serve everyone issued).
    """
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    windows = max(1, windows_open)
    return int(math.ceil(ahead / windows * max(0.0, avg_service_s)))


def average_service_s(recent_served_s: Sequence[float], default_s: float) -> float:
    """Mean of recent service times with the configured default as a prior worth three services,
    so the first few quick or slow services do not swing the estimate wildly."""
    prior_weight = 3
    total = default_s * prior_weight + sum(recent_served_s)
    return total / (prior_weight + len(recent_served_s))


def requeue_sort_ts(waiting_sort_ts: Sequence[datetime], now: datetime, positions: int) -> datetime:
    """Where a no-show rejoins the line: just behind the first ``positions`` waiting tickets
    (过号顺延), or at the end when fewer wait."""
    ordered = sorted(waiting_sort_ts)
    if positions < len(ordered):
        anchor = ordered[positions - 1] if positions > 0 else ordered[0] - timedelta(microseconds=2)
        return anchor + timedelta(microseconds=1)
    return now


# --- office hours ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficeHours:
    """Working sessions of a day (上午/下午) and when tickets may be issued."""

    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekday numbers
    sessions: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))
    issue_cutoff_min: int = 0  # stop issuing this many minutes before the last session ends
    issue_during_lunch: bool = True
    open_early_min: int = 30  # tickets may be taken this long before the first session
    extra_closed_days: frozenset[date] = field(default_factory=frozenset)  # statutory holidays (法定节假日)
    extra_open_days: frozenset[date] = field(default_factory=frozenset)  # make-up working days (调休上班)

    def __post_init__(self) -> None:
        if not self.sessions:
            raise ValueError("office hours need at least one session")
        for start, end in self.sessions:
            if start >= end:
                raise ValueError(f"session {start}-{end} ends before it starts")
        ends = [s for s, _ in self.sessions[1:]]
        if any(prev_end > nxt for (_, prev_end), nxt in zip(self.sessions, ends, strict=False)):
            raise ValueError("sessions must be in order and must not overlap")

    def is_open_day(self, day: date) -> bool:
        if day in self.extra_open_days:
            return True
        return day.isoweekday() in self.weekdays and day not in self.extra_closed_days

    def in_session(self, local: datetime) -> bool:
        t = local.time()
        return self.is_open_day(local.date()) and any(s <= t < e for s, e in self.sessions)

    def check_issue(self, local: datetime) -> None:
        """Raise IssuingClosed with the reason when a ticket may not be issued at ``local`` time."""
        if not self.is_open_day(local.date()):
            raise IssuingClosed("今日不办公 / the hall is closed today")
        t = local.time()
        first_start = _shift(self.sessions[0][0], -self.open_early_min)
        last_end = _shift(self.sessions[-1][1], -self.issue_cutoff_min)
        if t < first_start:
            raise IssuingClosed(f"尚未开始取号，{first_start:%H:%M} 开始 / issuing starts at {first_start:%H:%M}")
        if t >= last_end:
            raise IssuingClosed(f"今日取号已结束（{last_end:%H:%M}）/ issuing ended at {last_end:%H:%M}")
        in_break = t >= self.sessions[0][0] and not any(s <= t < e for s, e in self.sessions)
        if not self.issue_during_lunch and in_break:
            raise IssuingClosed("午休时间暂停取号 / no tickets during the lunch break")


def _shift(t: time, minutes: int) -> time:
    dt = datetime.combine(date(2000, 1, 3), t) + timedelta(minutes=minutes)
    return dt.time() if dt.date() == date(2000, 1, 3) else (time(0, 0) if minutes < 0 else time(23, 59, 59))


# --- transitions ----------------------------------------------------------------------------------


def require_state(status: Status, allowed: Iterable[Status], action: str) -> None:
    allowed = frozenset(allowed)
    if status not in allowed:
        names = "/".join(sorted(a.value for a in allowed))
        raise TicketNotInState(f"不能{action}：票号状态为 {status.value}（需要 {names}）/ "
                               f"cannot {action} a ticket that is {status.value}")


def check_recall(call_no: int, policy: Policy) -> None:
    if call_no >= policy.max_calls:
        raise CallLimitReached(
            f"已呼叫{call_no}次，请标记过号 / called {call_no} times already: mark it as no-show"
        )


def check_no_show(call_no: int, policy: Policy) -> None:
    if call_no < policy.no_show_after_calls:
        raise CallLimitReached(
            f"请至少呼叫{policy.no_show_after_calls}次后再标记过号 / call at least "
            f"{policy.no_show_after_calls} times before marking a no-show"
        )
