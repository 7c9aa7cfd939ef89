"""Queue rules (叫号规则), pure: the ticket and window state machines (one transition table each), the typed
errors of the hall's rules, call limits, ticket numbers and waiting estimates. The calling order (which ticket a
window calls next) is ``calling_order.py``, office hours ``hours.py``.

No database, bus or web imports here: the store loads, these functions decide.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum

from shared import errors

# --- errors ---------------------------------------------------------------------------------------


class QueueError(errors.DomainError):
    """A rule of the hall was broken. Each rule's error also names its kind (``errors.Conflict``…), which
    gives its HTTP status; its ``code`` (the ``error`` of the JSON answer) is its own class name."""


class TicketNotInState(QueueError, errors.Conflict):
    """The ticket's status does not allow the action (``TRANSITIONS``)."""


class CallLimitReached(QueueError, errors.Conflict):
    """Recalled too often, or marked no-show too early (``Policy.max_calls``, ``no_show_after_calls``)."""


class IssuingClosed(QueueError, errors.Conflict):
    """No tickets now (``hours.OfficeHours``)."""


class NotYourTicket(QueueError, errors.Forbidden):
    """The ticket is at another window."""


class WindowNotInState(QueueError, errors.Conflict):
    """The window's state does not allow the action (``WINDOW_RULES``)."""


class WindowNotOpen(WindowNotInState):
    """Pausing and calling need an open window."""


class TicketAtWindow(QueueError, errors.Conflict):
    """A ticket is still at the window (called or serving): finish it first."""


class NotBackOffice(QueueError, errors.Forbidden):
    """The staff member has no back-office department (后台/科室), so cannot sign in to the back office."""


# --- values ---------------------------------------------------------------------------------------


class Status(StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    DONE = "done"
    NO_SHOW = "no_show"
    TRANSFERRED = "transferred"  # waiting again, at another queue or window, in its original place
    CANCELLED = "cancelled"


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


# --- ticket states --------------------------------------------------------------------------------


class TicketAction(StrEnum):
    CALL = "call"  # 叫号 (call-next)
    RECALL = "recall"  # 重呼
    START = "start"  # 开始办理
    COMPLETE = "complete"  # 办结
    NO_SHOW = "no_show"  # 过号
    REQUEUE = "requeue"  # 过号重排
    TRANSFER = "transfer"  # 转移, to another queue or window, keeping the citizen's place
    BACK_IN_LINE = "back_in_line"  # 强制签退 of the window: back to the ticket's place in its own queue
    CANCEL = "cancel"  # 取消
    CLOSE_DAY = "close_day"  # the end-of-day sweep: what is left of an earlier day is cancelled (day_closed)
    CLOSE_UNSERVED = "close_unserved"  # the hall closed: still in line at the last session's end (closed_unserved)


@dataclass(frozen=True)
class Move:
    sources: frozenset[Status]  # the statuses the action is allowed from
    target: Status
    label: str  # the action as a clerk reads it in a refusal


_WAITING = frozenset({Status.WAITING, Status.TRANSFERRED})
_AT_WINDOW = frozenset({Status.CALLED, Status.SERVING})

TRANSITIONS: dict[TicketAction, Move] = {
    TicketAction.CALL: Move(_WAITING, Status.CALLED, "叫号"),
    TicketAction.RECALL: Move(frozenset({Status.CALLED}), Status.CALLED, "重呼"),
    TicketAction.START: Move(frozenset({Status.CALLED}), Status.SERVING, "开始办理"),
    TicketAction.COMPLETE: Move(_AT_WINDOW, Status.DONE, "办结"),
    TicketAction.NO_SHOW: Move(frozenset({Status.CALLED}), Status.NO_SHOW, "标记过号"),
    TicketAction.REQUEUE: Move(frozenset({Status.NO_SHOW}), Status.WAITING, "重新排队"),
    TicketAction.TRANSFER: Move(_AT_WINDOW, Status.TRANSFERRED, "转移"),
    TicketAction.BACK_IN_LINE: Move(_AT_WINDOW, Status.TRANSFERRED, "退回排队"),
    TicketAction.CANCEL: Move(_WAITING | {Status.CALLED}, Status.CANCELLED, "取消"),
    TicketAction.CLOSE_DAY: Move(_WAITING | _AT_WINDOW, Status.CANCELLED, "日终关闭"),
    # a ticket at a window at closing is being served (不接待完最后一位群众不下班): only those still in line
    TicketAction.CLOSE_UNSERVED: Move(_WAITING, Status.CANCELLED, "闭厅未办"),
}
WAITING_STATES = TRANSITIONS[TicketAction.CALL].sources  # in line: what a window may call
AT_WINDOW_STATES = _AT_WINDOW  # called or being served, at one window


def transition(status: Status, action: TicketAction) -> Status:
    """The status ``action`` leads to from ``status``; TicketNotInState (naming both) when not allowed."""
    move = TRANSITIONS[action]
    if status not in move.sources:
        names = "/".join(sorted(s.value for s in move.sources))
        raise TicketNotInState(f"不能{move.label}：票号状态为 {status.value}（需要 {names}）/ "
                               f"cannot {move.label} a ticket that is {status.value}")
    return move.target


def check_at_this_window(status: Status, at_window_no: int | None, window_no: int, number: str) -> None:
    """A ticket called or served at one window is handled by that window only."""
    if status in AT_WINDOW_STATES and at_window_no != window_no:
        raise NotYourTicket(f"{number} 不在本窗口办理 / ticket is at window {at_window_no}")


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


# --- window states --------------------------------------------------------------------------------


class WindowAction(StrEnum):
    SIGN_IN = "sign_in"  # 签到 (again, from another device, too)
    PAUSE = "pause"  # 暂停
    RESUME = "resume"  # 恢复
    CALL = "call"  # call-next
    SIGN_OUT = "sign_out"  # 签退
    END_SESSION = "end_session"  # 强制签退 by the duty manager


@dataclass(frozen=True)
class WindowRule:
    sources: frozenset[WindowState]
    target: WindowState
    refusal: type[WindowNotInState]  # raised in any other state, with ``refused`` ({no}: the window)
    refused: str
    busy: str | None = None  # set: refused while a ticket ({number}) is at the window, with this message


_SIGNED_IN = frozenset({WindowState.OPEN, WindowState.PAUSED})
_NOBODY = "{no}号窗口无人登录 / nobody is signed in at window {no}"

WINDOW_RULES: dict[WindowAction, WindowRule] = {
    WindowAction.SIGN_IN: WindowRule(frozenset(WindowState), WindowState.OPEN, WindowNotInState, ""),
    WindowAction.PAUSE: WindowRule(frozenset({WindowState.OPEN}), WindowState.PAUSED, WindowNotOpen,
                                   "窗口已暂停 / the window is already paused"),
    WindowAction.RESUME: WindowRule(frozenset({WindowState.PAUSED}), WindowState.OPEN, WindowNotInState,
                                    "窗口未暂停 / the window is not paused"),
    WindowAction.CALL: WindowRule(frozenset({WindowState.OPEN}), WindowState.OPEN, WindowNotOpen,
                                  "窗口暂停中，请先恢复 / the window is paused: resume first",
                                  busy="请先办结、转移或标记过号当前票号 {number} / finish {number} first"),
    WindowAction.SIGN_OUT: WindowRule(_SIGNED_IN, WindowState.CLOSED, WindowNotInState, _NOBODY,
                                      busy="请先办结或处理当前票号 {number} / finish {number} first"),
    # the ticket at the window, if any, goes back to its place in line (TicketAction.BACK_IN_LINE)
    WindowAction.END_SESSION: WindowRule(_SIGNED_IN, WindowState.CLOSED, WindowNotInState, _NOBODY),
}


def window_transition(state: WindowState, action: WindowAction, *, window_no: int,
                      number_at_window: str | None = None) -> WindowState:
    """The state ``action`` leads a window to: pause and call only when open, resume only when paused, sign-out
    and call refused while a ticket (``number_at_window``) is at the window."""
    rule = WINDOW_RULES[action]
    if state not in rule.sources:
        raise rule.refusal(rule.refused.format(no=window_no))
    if rule.busy is not None and number_at_window is not None:
        raise TicketAtWindow(rule.busy.format(number=number_at_window))
    return rule.target


# --- closing time (闭厅) ------------------------------------------------------------------------------

CLOSED_UNSERVED = "closed_unserved"  # cancel reason: still in line when the hall's last session ended (at once)
DAY_CLOSED = "day_closed"  # cancel reason: left over from an earlier day (the service was down at closing)


class StillWaiting(QueueError, errors.Conflict):
    """签退 while people issued before closing still wait for the window's queues (不接待完最后一位群众不下班):
    refused until the clerk confirms; ``detail.waiting`` says how many."""


def closing_at(local_now: datetime, last_session_end: time) -> datetime:
    """The hall's closing time on ``local_now``'s day: the end of its last session (上午/下午)."""
    return datetime.combine(local_now.date(), last_session_end, local_now.tzinfo)


def check_sign_out(waiting: int, confirmed: bool) -> None:
    """A clerk signing out while ``waiting`` tickets issued before closing still wait for the window's queues is
    warned (StillWaiting, naming how many) unless they confirm (they leave anyway: a colleague serves them, or the
    duty manager decides); the sign-out event then carries the count for the duty manager and central."""
    if waiting > 0 and not confirmed:
        raise StillWaiting(f"还有 {waiting} 位群众在等候本窗口的队列，不接待完最后一位群众不下班；确需签退请确认 / "
                           f"{waiting} people still wait for this window's queues: confirm to sign out anyway",
                           waiting=waiting)


# --- back office (后台/科室) ---------------------------------------------------------------------------


def backoffice_department(staff_id: str, department: str | None) -> str:
    """The department a back-office sign-in acts for: the staff member's own (前台受理, 后台办理); a clerk of the
    windows or a duty manager without one is refused."""
    if not department:
        raise NotBackOffice(f"{staff_id} 不是后台科室人员，请在窗口或值班长处登录 / {staff_id} has no back-office "
                            "department: sign in at a window or as duty manager")
    return department


# --- numbers and waiting estimates ----------------------------------------------------------------


def format_number(prefix: str, seq: int) -> str:
    """A001 … A999, then A1000: numbers are for people and reset every day."""
    if seq < 1:
        raise ValueError("ticket numbers start at 1")
    return f"{prefix}{seq:03d}"


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
