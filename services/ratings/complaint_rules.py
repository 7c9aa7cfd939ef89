"""Pure rules of the follow-up of a bad rating (差评整改): the complaint's state machine, who may take each step,
what each step needs, the steps a given person may take next (what the manager screen offers), and the due date
in working days. No I/O here; ``complaints.py`` loads, decides with these rules and saves.

    open ──回访核实 verify (manager)──▶ verified ──整改 rectify (now)──────────────▶ rectified ──办结 close──▶ closed
      │                                  │  └──整改 rectify by a date ─▶ rectifying ─┘ (done)    (manager)
      │                                  └──解释说明 explain ◀───────────────┘ ─────▶ explained ──办结 close──▶ closed
      └──────────申诉 appeal (open or verified) ──▶ appealed ──复核通过 approve (a second manager) ──▶ closed (voided)
                                                           └──复核驳回 reject (a second manager) ──▶ back where it was

Rectify, explain and appeal are the rated clerk's or a manager's; verify and close a manager's; the appeal is
decided (复核) by a manager who is neither the one who appealed nor the rated clerk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from services.ratings.domain import RatingsError
from shared import errors

if TYPE_CHECKING:
    from shared.workdays import WorkCalendar

STATUS_LABELS = {"open": "待回访核实", "verified": "已回访核实", "rectifying": "限期整改中", "rectified": "已整改",
                 "explained": "已解释说明", "appealed": "申诉待复核", "closed": "已办结"}
STATUS_LABELS_EN = {"open": "to call back", "verified": "called back", "rectifying": "being rectified",
                    "rectified": "rectified", "explained": "explained", "appealed": "appeal to review",
                    "closed": "closed"}
ACTION_LABELS = {"verify": "回访核实", "rectify": "整改", "explain": "解释说明", "appeal": "申诉",
                 "approve": "复核通过（作废该差评）", "reject": "复核驳回（差评有效）", "close": "办结"}
ACTIONS = tuple(ACTION_LABELS)
OUTCOMES = ("rectified", "explained", "voided")  # how a complaint closes


class ComplaintStateError(errors.Conflict, RatingsError):
    """The complaint is not in a state where this step can be taken (409)."""


class NotYourStep(errors.Forbidden, RatingsError):
    """This person may not take this step (403): a clerk verifying or closing, another clerk rectifying."""


class SecondReviewerRequired(errors.Forbidden, RatingsError):
    """申诉复核: the appeal is decided by a second manager, neither the one who appealed nor the rated clerk (403)."""


class StepInputInvalid(errors.Unprocessable, RatingsError):
    """A step without what it needs (a note, a sensible rectification date) (422)."""


@dataclass(frozen=True)
class ComplaintFacts:
    """What the rules need to know of a complaint."""

    status: str
    rated_staff_id: str | None  # the clerk the bad rating is about (责任人)
    appealed_by: str | None = None
    appealed_from: str | None = None  # the status before the appeal (where a rejected appeal goes back to)
    due_day: date | None = None  # the last working day of the follow-up


@dataclass(frozen=True)
class Actor:
    staff_id: str
    is_manager: bool


@dataclass(frozen=True)
class Step:
    """What a step does: the status it leads to, how the complaint closes (``outcome``), whether the rating is
    voided, and the rectification date it sets."""

    action: str
    to: str
    outcome: str | None = None
    voids_rating: bool = False
    rectify_by: date | None = None


# action → the statuses it may start from
STARTS: dict[str, frozenset[str]] = {
    "verify": frozenset({"open"}),
    "rectify": frozenset({"verified", "rectifying"}),
    "explain": frozenset({"verified", "rectifying"}),
    "appeal": frozenset({"open", "verified"}),
    "approve": frozenset({"appealed"}),
    "reject": frozenset({"appealed"}),
    "close": frozenset({"rectified", "explained"}),
}
NOTE_REQUIRED = {"explain": "解释说明须写明原因 / an explanation needs its text (note)",
                 "appeal": "申诉须写明理由 / an appeal needs its reason (note)",
                 "approve": "复核通过须写明作废理由 / voiding a rating needs the reason (note)",
                 "reject": "复核驳回须写明理由 / rejecting an appeal needs the reason (note)"}


def _state_error(action: str, facts: ComplaintFacts) -> ComplaintStateError:
    """Why the state does not allow ``action``, as a manager understands it."""
    status, label = facts.status, ACTION_LABELS[action]
    if status == "closed":
        return ComplaintStateError(f"该差评已办结，不能再{label} / this complaint is already closed")
    if status == "appealed":
        return ComplaintStateError(f"申诉待复核：请另一位值班长复核通过或驳回后再{label} / the appeal awaits a second "
                                   f"manager's review (approve or reject) before anyone can {action}")
    if action == "appeal" and facts.appealed_by is not None:
        return ComplaintStateError("该差评的申诉已被复核驳回，不能再次申诉 / the appeal of this rating was already "
                                   "rejected: it cannot be appealed again")
    if action == "close":
        return ComplaintStateError(f"该差评{STATUS_LABELS[status]}，须先整改或解释说明才能办结 / rectify or explain "
                                   f"before closing (the complaint is {status})")
    if action == "verify":
        return ComplaintStateError(f"该差评{STATUS_LABELS[status]}，无需再回访核实 / this complaint was already "
                                   f"called back ({status})")
    if action in ("rectify", "explain") and status == "open":
        return ComplaintStateError(f"请先回访核实，再{label} / call the citizen back (verify) before you {action}")
    if action in ("approve", "reject"):
        return ComplaintStateError(f"该差评没有待复核的申诉 / there is no appeal to review (the complaint is {status})")
    return ComplaintStateError(f"该差评{STATUS_LABELS[status]}，不能{label} / a complaint that is {status} cannot "
                               f"be {action}ed (next: {', '.join(state_actions(facts)) or 'nothing'})")


def _state_allows(action: str, facts: ComplaintFacts) -> bool:
    """The state machine: ``STARTS``, and one appeal per complaint (一次申诉: a rejected appeal is final)."""
    return facts.status in STARTS[action] and not (action == "appeal" and facts.appealed_by is not None)


def state_actions(facts: ComplaintFacts) -> list[str]:
    """The steps the state machine allows now, whoever asks."""
    return [a for a in ACTIONS if _state_allows(a, facts)]


def check_actor(action: str, facts: ComplaintFacts, actor: Actor) -> None:
    """Who may take ``action``: NotYourStep or SecondReviewerRequired (403) otherwise."""
    label = ACTION_LABELS[action]
    if action in ("verify", "close") and not actor.is_manager:
        raise NotYourStep(f"仅值班长可{label} / only a duty manager (值班长) may {action}")
    if action in ("rectify", "explain", "appeal") and not actor.is_manager \
            and actor.staff_id != facts.rated_staff_id:
        raise NotYourStep(f"只有被评价的工作人员（{facts.rated_staff_id or '—'}）或值班长可以{label} / only the rated "
                          f"clerk or a duty manager may {action}")
    if action in ("approve", "reject"):
        if not actor.is_manager:
            raise NotYourStep(f"仅值班长可复核申诉 / only a duty manager may review an appeal ({action})")
        if actor.staff_id == facts.appealed_by:
            raise SecondReviewerRequired("申诉须由另一位值班长复核，申诉人不能复核自己的申诉 / a second duty manager "
                                         "must review the appeal: the one who appealed cannot")
        if actor.staff_id == facts.rated_staff_id:
            raise SecondReviewerRequired("不能复核对自己的差评 / nobody may review the appeal of a rating of their own")


def decide(facts: ComplaintFacts, actor: Actor, action: str, *, note: str | None = None,
           rectify_by: date | None = None, outcome: str | None = None, today: date | None = None) -> Step:
    """The step ``actor`` takes, or why not: 409 for the state, 403 for the person, 422 for the input."""
    if action not in STARTS:
        raise StepInputInvalid(f"未知的处理步骤 / unknown step {action!r} (known: {', '.join(ACTIONS)})")
    if not _state_allows(action, facts):
        raise _state_error(action, facts)
    check_actor(action, facts, actor)
    if action == "close" and outcome is not None and outcome != facts.status:
        raise StepInputInvalid(f"该差评{STATUS_LABELS[facts.status]}，办结结论只能是 {facts.status} / this complaint "
                               f"closes as {facts.status}", field="outcome")
    if action in NOTE_REQUIRED and not (note or "").strip():
        raise StepInputInvalid(NOTE_REQUIRED[action], field="note")
    if rectify_by is not None and action != "rectify":
        raise StepInputInvalid(f"整改期限只用于整改 / a rectification date goes with rectify, not {action}",
                               field="by")
    if action == "rectify":
        return _rectify(facts, rectify_by, today)
    if action == "verify":
        return Step(action, "verified")
    if action == "explain":
        return Step(action, "explained")
    if action == "appeal":
        return Step(action, "appealed")
    if action == "approve":
        return Step(action, "closed", outcome="voided", voids_rating=True)
    if action == "reject":
        return Step(action, facts.appealed_from if facts.appealed_from in ("open", "verified") else "verified")
    return Step(action, "closed", outcome=facts.status)  # close: rectified or explained


def _rectify(facts: ComplaintFacts, by: date | None, today: date | None) -> Step:
    """整改: done now (→ rectified), or promised by a date (→ rectifying, then done later)."""
    if by is None:
        return Step("rectify", "rectified")
    if facts.status == "rectifying":
        raise StepInputInvalid("已在限期整改中：整改完成时不需要再给期限 / already being rectified: report it done "
                               "without a date", field="by")
    if today is not None and by < today:
        raise StepInputInvalid(f"整改期限 {by} 已过 / the rectification date {by} is in the past", field="by")
    if facts.due_day is not None and by > facts.due_day:
        raise StepInputInvalid(f"整改期限不能晚于办理期限 {facts.due_day} / rectify by {facts.due_day} at the latest "
                               "(the complaint's due day)", field="by")
    return Step("rectify", "rectifying", rectify_by=by)


def next_actions(facts: ComplaintFacts, actor: Actor) -> tuple[list[str], list[tuple[str, str]]]:
    """The steps ``actor`` may take now (the screen's buttons), and those the state allows but not to this person,
    each with the reason (e.g. 'a second manager must review')."""
    allowed: list[str] = []
    blocked: list[tuple[str, str]] = []
    for action in state_actions(facts):
        try:
            check_actor(action, facts, actor)
        except errors.Forbidden as exc:
            blocked.append((action, exc.message))
        else:
            allowed.append(action)
    return allowed, blocked


def complaint_due_day(calendar: WorkCalendar, opened: date, days: int) -> date:
    """The day a complaint opened on ``opened`` is due: the ``days``-th working day after it (次日起算), with
    statutory holidays skipped and make-up working days (调休) counted."""
    return calendar.add_working_days(opened, days)


def working_days_left(calendar: WorkCalendar, today: date, due_day: date) -> int:
    """Working days left until the due day (0: due today); negative when overdue (the working days since)."""
    if today <= due_day:
        return calendar.count_between(today, due_day)
    return -calendar.count_between(due_day, today)
