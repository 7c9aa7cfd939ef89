"""Pure rules of the back office (后台办理) in ``services/matters/domain.py``: who may see and handle which case,
the worklist's department and order, what a case waits for next, the deadline a case shows, and 审核/复核 by two
different people."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.matters import domain as d
from shared.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
POLICY = d.CardPolicy(yellow_days_left=1)


def test_back_office_staff_handle_their_own_departments_cases_only() -> None:
    """工伤保险科 may handle a 工伤 case, not a 养老 one; window clerks and managers may handle any."""
    d.check_case_access("backoffice", "工伤保险科", "工伤保险科")
    with pytest.raises(d.NotYourDepartment) as err:
        d.check_case_access("backoffice", "工伤保险科", "企业养老保险科")
    assert err.value.status == 403 and "企业养老保险科" in err.value.message
    with pytest.raises(d.NotYourDepartment):
        d.check_case_access("backoffice", None, "企业养老保险科")  # a back-office token without a department
    for role in ("A", "B", "clerk", "manager"):
        d.check_case_access(role, None, "企业养老保险科")


def test_only_a_window_accepts_a_case() -> None:
    """受理 stays a window clerk's act: a back-office token is refused with a message saying so."""
    d.check_may_accept("A")
    d.check_may_accept("manager")
    with pytest.raises(d.NotForThisRole) as err:
        d.check_may_accept("backoffice")
    assert err.value.status == 403 and "受理" in err.value.message


def test_worklist_department_by_role() -> None:
    """A back office sees its own department (asking for another is 403); a manager all or the one asked; a window
    clerk has no worklist."""
    assert d.worklist_department("backoffice", "工伤保险科", None) == "工伤保险科"
    assert d.worklist_department("backoffice", "工伤保险科", "工伤保险科") == "工伤保险科"
    with pytest.raises(d.NotYourDepartment):
        d.worklist_department("backoffice", "工伤保险科", "失业保险科")
    assert d.worklist_department("manager", None, None) is None
    assert d.worklist_department("manager", None, "失业保险科") == "失业保险科"
    with pytest.raises(d.NotForThisRole):
        d.worklist_department("A", None, None)


def test_the_recheck_is_never_done_by_the_reviewer() -> None:
    """审核 by s001, 复核 by s001: 409 in words a clerk understands; by s002 it passes; matters without a review
    step are not concerned."""
    planned = ["review", "recheck"]
    with pytest.raises(d.RecheckBySameStaff) as err:
        d.check_step_person("recheck", planned, {"review": "s001"}, "s001")
    assert err.value.status == 409 and "复核须由" in err.value.message and "reviewer" in err.value.message
    d.check_step_person("recheck", planned, {"review": "s001"}, "s002")
    d.check_step_person("review", planned, {}, "s001")
    d.check_step_person("recheck", ["recheck"], {}, "s001")
    d.check_step_person("investigate", ["review", "investigate", "recheck"], {"review": "s001"}, "s001")


@pytest.mark.parametrize(("status", "done", "result", "pickup", "expected"), [
    (d.Status.ACCEPTED, [], None, True, ["review"]),
    (d.Status.ACCEPTED, ["review"], None, True, ["recheck"]),
    (d.Status.ACCEPTED, ["review", "recheck"], None, True, ["complete"]),
    (d.Status.SUSPENDED, ["review"], None, True, ["resume"]),
    (d.Status.COMPLETED, ["review", "recheck"], d.Result.APPROVED, True, ["ready_for_pickup"]),
    (d.Status.COMPLETED, ["review", "recheck"], d.Result.APPROVED, False, []),
    (d.Status.COMPLETED, ["review"], d.Result.REJECTED, True, []),
    (d.Status.READY_FOR_PICKUP, ["review", "recheck"], d.Result.APPROVED, True, ["picked_up"]),
    (d.Status.PICKED_UP, ["review", "recheck"], d.Result.APPROVED, True, []),
    (d.Status.MATERIALS_MISSING, [], None, True, []),
])
def test_next_steps_follow_the_state_machine(status: d.Status, done: list[str], result: d.Result | None,
                                             pickup: bool, expected: list[str]) -> None:
    """A case waits for its next back-office step, then 办结, then 通知领取 and 领取; closed cases wait for nothing."""
    assert d.next_steps(status, ["review", "recheck"], done, result, pickup) == expected


def test_worklist_order_overdue_first_suspended_last() -> None:
    """Overdue (negative days left) before due today before later ones; finished cases awaiting pickup after them;
    suspended ones without a due date last."""
    ranks = {"overdue": d.worklist_rank(d.Status.ACCEPTED, -2), "today": d.worklist_rank(d.Status.ACCEPTED, 0),
             "later": d.worklist_rank(d.Status.ACCEPTED, 5), "pickup": d.worklist_rank(d.Status.READY_FOR_PICKUP, None),
             "suspended_overdue": d.worklist_rank(d.Status.SUSPENDED, -1),
             "suspended": d.worklist_rank(d.Status.SUSPENDED, None)}
    assert sorted(ranks, key=ranks.__getitem__) == ["overdue", "suspended_overdue", "today", "later", "pickup",
                                                    "suspended"]


def _state(status: d.Status, kind: d.Kind = d.Kind.PROMISED, *, today: int = 4,
           due_on: date | None = date(2026, 3, 5)) -> tuple[int | None, d.Level | None]:
    return d.deadline_state(CAL, now=datetime(2026, 3, today, 10, tzinfo=TZ), status=status, kind=kind,
                            due_on=due_on, limit_days=10, policy=POLICY)


def test_deadline_state_counts_for_running_promised_cases_only() -> None:
    """A running 承诺件 shows its days left and card; an overdue suspended one stays red; instant, finished and
    stopped-clock cases show none."""
    assert _state(d.Status.ACCEPTED) == (1, d.Level.YELLOW)
    assert _state(d.Status.SUSPENDED, today=9) == (-2, d.Level.RED)
    assert _state(d.Status.SUSPENDED, due_on=None) == (None, None)
    assert _state(d.Status.COMPLETED) == (None, None)
    assert _state(d.Status.ACCEPTED, d.Kind.INSTANT) == (None, None)
