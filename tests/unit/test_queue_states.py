"""Unit tests for the ticket and window state machines in ``services/queue/domain.py``, the HTTP kinds of the
queue's typed errors, and the hall manager's staffing rules (``manager.py``)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.queue import domain as d
from services.queue.domain import Status, TicketAction, WindowAction, WindowState
from services.queue.manager import check_no_repeats, check_roles, queue_ids_in_order
from shared import errors

S, A = Status, TicketAction
# the whole table, written out once more by hand: (action, from) -> to
EXPECTED = {
    (A.CALL, S.WAITING): S.CALLED, (A.CALL, S.TRANSFERRED): S.CALLED,
    (A.RECALL, S.CALLED): S.CALLED,
    (A.START, S.CALLED): S.SERVING,
    (A.COMPLETE, S.CALLED): S.DONE, (A.COMPLETE, S.SERVING): S.DONE,
    (A.NO_SHOW, S.CALLED): S.NO_SHOW,
    (A.REQUEUE, S.NO_SHOW): S.WAITING,
    (A.TRANSFER, S.CALLED): S.TRANSFERRED, (A.TRANSFER, S.SERVING): S.TRANSFERRED,
    (A.BACK_IN_LINE, S.CALLED): S.TRANSFERRED, (A.BACK_IN_LINE, S.SERVING): S.TRANSFERRED,
    (A.CANCEL, S.WAITING): S.CANCELLED, (A.CANCEL, S.TRANSFERRED): S.CANCELLED, (A.CANCEL, S.CALLED): S.CANCELLED,
    (A.CLOSE_DAY, S.WAITING): S.CANCELLED, (A.CLOSE_DAY, S.TRANSFERRED): S.CANCELLED,
    (A.CLOSE_DAY, S.CALLED): S.CANCELLED, (A.CLOSE_DAY, S.SERVING): S.CANCELLED,
    (A.CLOSE_UNSERVED, S.WAITING): S.CANCELLED, (A.CLOSE_UNSERVED, S.TRANSFERRED): S.CANCELLED,
}


@pytest.mark.parametrize("action", list(TicketAction))
@pytest.mark.parametrize("status", list(Status))
def test_transition_table_allows_exactly_the_hall_s_moves(action: TicketAction, status: Status) -> None:
    """Every (status, action) pair leads where the hall's rules say, and every other pair is refused."""
    if (action, status) in EXPECTED:
        assert d.transition(status, action) is EXPECTED[(action, status)]
    else:
        with pytest.raises(d.TicketNotInState):
            d.transition(status, action)


def test_done_and_cancelled_tickets_are_final() -> None:
    """No action leads out of done or cancelled; a no-show only goes back in line (requeue)."""
    for status in (S.DONE, S.CANCELLED):
        assert all(status not in move.sources for move in d.TRANSITIONS.values())
    assert [a for a, move in d.TRANSITIONS.items() if S.NO_SHOW in move.sources] == [A.REQUEUE]


@given(st.lists(st.sampled_from(list(TicketAction)), max_size=30))
def test_a_ticket_is_called_only_from_the_line(actions: list[TicketAction]) -> None:
    """Whatever the clerks press, a ticket is called only from the line and rejoins it only by requeue or transfer."""
    status = S.WAITING
    for action in actions:
        try:
            after = d.transition(status, action)
        except d.TicketNotInState:
            continue
        if action is A.CALL:
            assert status in d.WAITING_STATES
        if after in d.WAITING_STATES:
            assert action in (A.REQUEUE, A.TRANSFER, A.BACK_IN_LINE)
        status = after


def test_a_ticket_at_another_window_is_not_yours() -> None:
    """A ticket called to window 2 cannot be handled by window 1 (403); a waiting or no-show ticket can."""
    with pytest.raises(d.NotYourTicket) as refused:
        d.check_at_this_window(S.CALLED, 2, 1, "A001")
    assert refused.value.status == 403 and "A001" in refused.value.message and "window 2" in refused.value.message
    d.check_at_this_window(S.SERVING, 1, 1, "A001")
    d.check_at_this_window(S.WAITING, None, 1, "A001")
    d.check_at_this_window(S.NO_SHOW, 2, 1, "A001")


W, WA = WindowState, WindowAction


@pytest.mark.parametrize(("state", "action", "after"), [
    (W.CLOSED, WA.SIGN_IN, W.OPEN), (W.OPEN, WA.SIGN_IN, W.OPEN), (W.PAUSED, WA.SIGN_IN, W.OPEN),
    (W.OPEN, WA.PAUSE, W.PAUSED), (W.PAUSED, WA.RESUME, W.OPEN), (W.OPEN, WA.CALL, W.OPEN),
    (W.OPEN, WA.SIGN_OUT, W.CLOSED), (W.PAUSED, WA.SIGN_OUT, W.CLOSED),
    (W.OPEN, WA.END_SESSION, W.CLOSED), (W.PAUSED, WA.END_SESSION, W.CLOSED),
])
def test_window_moves_the_hall_allows(state: WindowState, action: WindowAction, after: WindowState) -> None:
    """Sign-in opens a window, pause and resume toggle it, sign-out and the manager's end-session close it."""
    assert d.window_transition(state, action, window_no=3) is after


@pytest.mark.parametrize(("state", "action", "error", "text"), [
    (W.PAUSED, WA.PAUSE, d.WindowNotOpen, "already paused"),
    (W.OPEN, WA.RESUME, d.WindowNotInState, "not paused"),
    (W.PAUSED, WA.CALL, d.WindowNotOpen, "resume first"),
    (W.CLOSED, WA.CALL, d.WindowNotOpen, "resume first"),
    (W.CLOSED, WA.END_SESSION, d.WindowNotInState, "nobody is signed in at window 3"),
    (W.CLOSED, WA.SIGN_OUT, d.WindowNotInState, "nobody is signed in at window 3"),
])
def test_window_moves_the_hall_refuses(state: WindowState, action: WindowAction, error: type[d.QueueError],
                                       text: str) -> None:
    """Pause only when open, resume only when paused, call only when open, end a session only when there is one."""
    with pytest.raises(error) as refused:
        d.window_transition(state, action, window_no=3)
    assert type(refused.value) is error and refused.value.status == 409 and text in refused.value.message


@pytest.mark.parametrize(("action", "text"), [(WA.SIGN_OUT, "请先办结或处理当前票号 A007"),
                                              (WA.CALL, "请先办结、转移或标记过号当前票号 A007")])
def test_sign_out_and_call_are_refused_while_a_ticket_is_at_the_window(action: WindowAction, text: str) -> None:
    """An open window with A007 at it can neither sign out nor call the next ticket; the end-session can."""
    with pytest.raises(d.TicketAtWindow) as refused:
        d.window_transition(W.OPEN, action, window_no=3, number_at_window="A007")
    assert text in refused.value.message and "finish A007 first" in refused.value.message
    assert d.window_transition(W.OPEN, WA.END_SESSION, window_no=3, number_at_window="A007") is W.CLOSED


@pytest.mark.parametrize(("error", "kind", "status"), [
    (d.TicketNotInState, errors.Conflict, 409), (d.CallLimitReached, errors.Conflict, 409),
    (d.IssuingClosed, errors.Conflict, 409), (d.WindowNotInState, errors.Conflict, 409),
    (d.WindowNotOpen, errors.Conflict, 409), (d.TicketAtWindow, errors.Conflict, 409),
    (d.NotYourTicket, errors.Forbidden, 403),
])
def test_each_rule_error_has_its_kind_status_and_own_code(error: type[d.QueueError], kind: type, status: int) -> None:
    """A rule's error answers its kind's HTTP status, its class name as ``error`` code, and its message as given."""
    exc = error("规则 / a rule")
    assert isinstance(exc, d.QueueError) and isinstance(exc, kind) and isinstance(exc, errors.HallnetError)
    assert exc.status == status and exc.code == error.__name__ and exc.message == "规则 / a rule"


def test_ab_roles_need_one_a_and_different_bs() -> None:
    """One A and at least one B, all different people (杜绝空窗); anything else is 422."""
    check_roles("s001", ["s002", "s003"])
    for a, b in (("s001", ["s001"]), ("s001", ["s002", "s002"]), ("s001", [])):
        with pytest.raises(errors.Unprocessable):
            check_roles(a, b)


def test_a_window_serves_known_queues_in_its_order_each_once() -> None:
    """The queues of a window keep the manager's order; a repeated or unknown prefix is 422 naming it."""
    qa, qb = uuid.uuid4(), uuid.uuid4()
    check_no_repeats(["B", "A"])
    assert queue_ids_in_order(["B", "A"], {"A": qa, "B": qb}) == [qb, qa]
    with pytest.raises(errors.Unprocessable):
        check_no_repeats(["A", "A"])
    with pytest.raises(errors.Unprocessable, match="Z"):
        queue_ids_in_order(["A", "Z"], {"A": qa})
