"""Unit tests for the pure queue rules (叫号规则): ``services/queue/domain.py``, ``calling_order.py``, ``hours.py``.

No database, no bus: an in-memory hall (取号, 叫号, 转移) drives ``choose_next`` and hypothesis looks for
a window that calls someone twice, a citizen who is passed for ever, or a ticket served by the wrong
window.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.queue.calling_order import choose_for_windows, choose_next, effective_time, requeue_sort_ts
from services.queue.domain import (
    TRANSITIONS,
    CallLimitReached,
    Candidate,
    IssuingClosed,
    Policy,
    Priority,
    QueueError,
    Status,
    TicketAction,
    TicketNotInState,
    average_service_s,
    check_no_show,
    check_recall,
    estimate_wait_s,
    format_number,
    transition,
)
from services.queue.hours import OfficeHours

TZ = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2024, 3, 4, 9, 0, tzinfo=TZ)  # a Monday, 09:00 in the hall
QUEUES = tuple(uuid.UUID(int=i + 1) for i in range(4))
A, B, C, _ = QUEUES
POLICY = Policy()

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{3,}")


def _ticket(queue_id: uuid.UUID, seq: int, sort_ts: datetime, priority: Priority = Priority.NORMAL,
            appointment_at: datetime | None = None, target_window_no: int | None = None) -> Candidate:
    return Candidate(id=uuid.uuid4(), queue_id=queue_id, seq=seq, sort_ts=sort_ts, priority=priority,
                     appointment_at=appointment_at, target_window_no=target_window_no)


def _at(minutes: float) -> datetime:
    return MONDAY_9 + timedelta(minutes=minutes)


def _next(candidates: list[Candidate], window_no: int = 1, queue_ids: tuple[uuid.UUID, ...] = (A,),
          now: datetime | None = None, policy: Policy = POLICY) -> Candidate | None:
    return choose_next(candidates, window_no=window_no, queue_ids=queue_ids, now=now or _at(120), policy=policy)


def _calling_order(candidates: list[Candidate], **kwargs: Any) -> list[Candidate]:
    """Call one window until nobody it serves is left."""
    left = list(candidates)
    order = []
    while (c := _next(left, **kwargs)) is not None:
        order.append(c)
        left.remove(c)
    return order


def _bilingual(message: str) -> bool:
    return bool(CJK.search(message)) and bool(ENGLISH.search(message)) and "/" in message


# --- an in-memory hall ----------------------------------------------------------------------------


policies = st.builds(
    Policy,
    green_bonus_s=st.integers(0, 1800),
    appointment_bonus_s=st.integers(0, 1800),
    appointment_early_s=st.integers(0, 1800),
    preference_step_s=st.integers(0, 1200),
)


@st.composite
def hall_layouts(draw: st.DrawFn) -> tuple[tuple[uuid.UUID, ...], dict[int, tuple[uuid.UUID, ...]]]:
    """Some queues and some windows, each window serving an ordered subset of them (科室柜员制)."""
    queues = QUEUES[: draw(st.integers(1, len(QUEUES)))]
    windows = {}
    for window_no in range(1, draw(st.integers(1, 4)) + 1):
        order = draw(st.permutations(queues))
        windows[window_no] = tuple(order[: draw(st.integers(1, len(queues)))])
    return queues, windows


issue_ops = st.tuples(st.just("issue"), st.integers(0, 3), st.sampled_from(list(Priority)),
                      st.integers(-1800, 7200), st.integers(0, 300))
call_ops = st.tuples(st.just("call"), st.integers(0, 3), st.integers(0, 300))
transfer_ops = st.tuples(st.just("transfer"), st.integers(0, 7), st.booleans(), st.integers(0, 120))
hall_ops = st.lists(st.one_of(issue_ops, issue_ops, call_ops, call_ops, transfer_ops), max_size=60)


@dataclass
class Hall:
    """Tickets waiting in a hall, and what each window did; every call is checked as it happens."""

    queues: tuple[uuid.UUID, ...]
    windows: dict[int, tuple[uuid.UUID, ...]]
    policy: Policy
    now: datetime = MONDAY_9
    waiting: dict[uuid.UUID, Candidate] = field(default_factory=dict)
    last_called: dict[int, Candidate] = field(default_factory=dict)
    calls: Counter[uuid.UUID] = field(default_factory=Counter)
    transfers: Counter[uuid.UUID] = field(default_factory=Counter)
    next_seq: Counter[uuid.UUID] = field(default_factory=Counter)

    def issue(self, queue_id: uuid.UUID, priority: Priority, appointment_offset_s: int) -> Candidate:
        self.next_seq[queue_id] += 1
        appointment_at = None
        if priority is Priority.APPOINTMENT:
            appointment_at = self.now + timedelta(seconds=appointment_offset_s)
        t = _ticket(queue_id, self.next_seq[queue_id], self.now, priority, appointment_at)
        self.waiting[t.id] = t
        return t

    def transfer(self, window_no: int, to_queue: uuid.UUID | None, to_window: int | None) -> None:
        """The clerk sends the ticket at the window elsewhere; it keeps sort_ts (its place in line)."""
        t = self.last_called.pop(window_no)
        moved = replace(t, queue_id=t.queue_id if to_queue is None else to_queue, target_window_no=to_window)
        self.waiting[moved.id] = moved
        self.transfers[moved.id] += 1

    def call(self, window_no: int) -> Candidate | None:
        queue_ids = self.windows[window_no]
        chosen = choose_next(self.waiting.values(), window_no=window_no, queue_ids=queue_ids, now=self.now,
                             policy=self.policy)
        eligible = [c for c in self.waiting.values() if _serves(window_no, queue_ids, c)]
        if chosen is None:
            assert eligible == [], "a window said nobody waits while someone it serves waits"
            return None
        assert chosen.id in self.waiting, "called a ticket that is not waiting"
        assert _serves(window_no, queue_ids, chosen), "called a ticket of a queue this window does not serve"
        self._check_nobody_passed_unfairly(chosen, eligible, queue_ids)
        del self.waiting[chosen.id]
        self.calls[chosen.id] += 1
        assert self.calls[chosen.id] <= 1 + self.transfers[chosen.id], "called the same ticket twice"
        self.last_called[window_no] = chosen
        return chosen

    def _check_nobody_passed_unfairly(self, chosen: Candidate, eligible: list[Candidate],
                                      queue_ids: tuple[uuid.UUID, ...]) -> None:
        max_bonus = max(self.policy.green_bonus_s, self.policy.appointment_bonus_s)
        window_bound = max_bonus + self.policy.preference_step_s * (len(queue_ids) - 1)
        for other in eligible:
            if other.id == chosen.id:
                continue
            later_s = (chosen.sort_ts - other.sort_ts).total_seconds()
            assert later_s <= window_bound, f"passed by a ticket that joined {later_s}s later"
            same_line = (other.queue_id == chosen.queue_id and other.target_window_no is None
                         and chosen.target_window_no is None)
            if same_line:
                assert later_s <= max_bonus, f"passed in its own queue by a ticket that joined {later_s}s later"
                if other.priority is Priority.NORMAL and chosen.priority is Priority.NORMAL:
                    assert (chosen.sort_ts, chosen.seq) <= (other.sort_ts, other.seq), "normal tickets left FIFO"


def _serves(window_no: int, queue_ids: tuple[uuid.UUID, ...], c: Candidate) -> bool:
    if c.target_window_no is not None:
        return c.target_window_no == window_no
    return c.queue_id in queue_ids


def _run_hall(layout: tuple[tuple[uuid.UUID, ...], dict[int, tuple[uuid.UUID, ...]]], policy: Policy,
              ops: list[tuple]) -> Hall:
    queues, windows = layout
    hall = Hall(queues, windows, policy)
    window_nos = sorted(windows)
    for op in ops:
        hall.now += timedelta(seconds=op[-1])
        if op[0] == "issue":
            _, q, priority, appointment_offset_s, _ = op
            hall.issue(queues[q % len(queues)], priority, appointment_offset_s)
        elif op[0] == "call":
            hall.call(window_nos[op[1] % len(window_nos)])
        elif hall.last_called:
            _, pick, to_window, _ = op
            window_no = sorted(hall.last_called)[pick % len(hall.last_called)]
            if to_window:
                hall.transfer(window_no, None, window_nos[pick % len(window_nos)])
            else:
                hall.transfer(window_no, queues[pick % len(queues)], None)
    # closing time: every window calls until nobody it serves is left (不接待完最后一位群众不下班)
    while any([hall.call(w) is not None for w in window_nos]):
        hall.now += timedelta(minutes=5)
    return hall


# --- 1, 2: nobody called twice, nobody starves ----------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(hall_layouts(), policies, hall_ops)
def test_nobody_is_called_twice_and_windows_call_only_their_queues(layout, policy, ops) -> None:
    """A citizen is called once per time in line, only by a window serving their queue or the one they were sent to."""
    _run_hall(layout, policy, ops)  # Hall.call checks each call as it happens


@settings(max_examples=200, deadline=None)
@given(hall_layouts(), policies, hall_ops)
def test_every_ticket_a_window_serves_is_called_by_closing_time(layout, policy, ops) -> None:
    """When windows keep calling, only tickets of queues no window serves are left over."""
    hall = _run_hall(layout, policy, ops)
    for left in hall.waiting.values():
        assert not any(_serves(w, q, left) for w, q in hall.windows.items())


@settings(max_examples=200, deadline=None)
@given(policies, st.lists(st.tuples(st.sampled_from(list(Priority)), st.integers(0, 600), st.integers(-1800, 3600)),
                          min_size=1, max_size=40))
def test_single_queue_window_is_never_passed_beyond_the_largest_bonus(policy, arrivals) -> None:
    """At a one-queue window nobody is passed by someone who arrived more than the largest bonus later."""
    layout: tuple[tuple[uuid.UUID, ...], dict[int, tuple[uuid.UUID, ...]]] = ((A,), {1: (A,)})
    ops: list[tuple] = []
    for priority, gap_s, appointment_offset_s in arrivals:
        ops.append(("issue", 0, priority, appointment_offset_s, gap_s))
        if gap_s % 3 == 0:
            ops.append(("call", 0, 0))
    hall = _run_hall(layout, policy, ops)  # the per-call checks carry the bound; this one must drain
    assert hall.waiting == {}


def test_a_stream_of_green_tickets_cannot_keep_a_normal_ticket_waiting() -> None:
    """A green ticket every minute delays a normal ticket by at most about green_bonus_s, not for ever."""
    policy = Policy(green_bonus_s=900)
    hall = Hall((A,), {1: (A,)}, policy, now=MONDAY_9)
    for i in range(5):  # a backlog of green tickets before our citizen arrives
        hall.now = MONDAY_9 - timedelta(minutes=5 - i)
        hall.issue(A, Priority.GREEN, 0)
    hall.now = MONDAY_9
    normal = hall.issue(A, Priority.NORMAL, 0)
    fifo_called_at = MONDAY_9 + timedelta(minutes=6, seconds=30)  # the sixth call, behind the five greens
    called_at = None
    for minute in range(1, 120):
        hall.now = MONDAY_9 + timedelta(minutes=minute)
        hall.issue(A, Priority.GREEN, 0)
        hall.now += timedelta(seconds=30)
        if hall.call(1) == normal:
            called_at = hall.now
            break
    assert called_at is not None, "the normal ticket was never called"
    assert called_at - fifo_called_at <= timedelta(seconds=policy.green_bonus_s + 60)


# --- 3: FIFO --------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3600), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_normal_tickets_are_called_in_the_order_they_joined(offsets_s, rnd) -> None:
    """With only normal tickets, the window calls the one who joined first, equal times by number."""
    seqs = list(range(1, len(offsets_s) + 1))
    rnd.shuffle(seqs)  # transfers mean numbers need not follow joining times
    tickets = [_ticket(A, seq, MONDAY_9 + timedelta(seconds=s)) for s, seq in zip(offsets_s, seqs, strict=True)]
    first = _next(tickets)
    assert first is not None
    assert (first.sort_ts, first.seq) == min((t.sort_ts, t.seq) for t in tickets)
    assert _calling_order(tickets) == sorted(tickets, key=lambda t: (t.sort_ts, t.seq))


# --- 4: green channel and appointments -------------------------------------------------------------


def _calling_lines(tickets: list[Candidate], now: datetime, policy: Policy) -> list[list[Candidate]]:
    """The calling groups as the store reads them: normal, green, due and later appointments, per queue and
    per window tickets were sent to, each in sort_ts then number order."""
    lines: dict[object, list[Candidate]] = {}
    for t in tickets:
        if t.priority is Priority.APPOINTMENT:
            due_limit = now + timedelta(seconds=policy.appointment_early_s)
            due = t.appointment_at is not None and t.appointment_at <= due_limit
            group = "appt_due" if due else "appt_later"
        else:
            group = t.priority.value
        key = ("window", t.target_window_no, group) if t.target_window_no is not None else (t.queue_id, group)
        lines.setdefault(key, []).append(t)
    return [sorted(g, key=lambda c: (c.sort_ts, c.seq)) for g in lines.values()]


@settings(max_examples=150)
@given(hall_layouts(), policies,
       st.lists(st.tuples(st.integers(0, 3), st.sampled_from(list(Priority)), st.integers(-1800, 7200),
                          st.integers(0, 300), st.integers(0, 6)), max_size=40),
       st.lists(st.integers(1, 4), max_size=12))
def test_windows_calling_together_get_what_calling_one_by_one_would_give(layout, policy, issued, arrivals) -> None:
    """Windows decided together in one batch call exactly the tickets they would call one after another,
    and no ticket twice."""
    _, windows = layout
    now = _at(120)
    seqs: Counter[uuid.UUID] = Counter()
    tickets = []
    for q, prio, appt_s, age_s, target in issued:
        queue_id = QUEUES[q]
        seqs[queue_id] += 1
        tickets.append(_ticket(queue_id, seqs[queue_id], now - timedelta(seconds=age_s), prio,
                               now + timedelta(seconds=appt_s) if prio is Priority.APPOINTMENT else None,
                               target if target in windows else None))
    order = [(no, windows[no]) for no in arrivals if no in windows]
    together = choose_for_windows(_calling_lines(tickets, now, policy), order, now=now, policy=policy)
    left, one_by_one = list(tickets), []
    for no, queue_ids in order:
        pick = choose_next(left, window_no=no, queue_ids=queue_ids, now=now, policy=policy)
        one_by_one.append(pick)
        if pick is not None:
            left.remove(pick)
    assert together == one_by_one
    called = [c.id for c in together if c is not None]
    assert len(called) == len(set(called))


def test_green_ticket_goes_before_normal_tickets_that_came_a_little_earlier() -> None:
    """A green-channel (绿色通道) ticket issued a few minutes after normal ones is called first."""
    normals = [_ticket(A, i + 1, _at(i)) for i in range(3)]
    green = _ticket(A, 4, _at(5), Priority.GREEN)
    assert _next([*normals, green]) == green


def test_green_ticket_does_not_jump_someone_who_waited_longer_than_the_bonus() -> None:
    """A green ticket does not pass a normal ticket that joined more than green_bonus_s before it."""
    early = _ticket(A, 1, _at(0))
    green = _ticket(A, 2, _at(0) + timedelta(seconds=POLICY.green_bonus_s + 1), Priority.GREEN)
    assert _next([green, early]) == early


def test_green_ticket_counts_as_having_joined_green_bonus_earlier() -> None:
    """effective_time moves a green ticket forward by green_bonus_s and back by preference_step_s per rank."""
    green = _ticket(B, 1, _at(30), Priority.GREEN)
    at_first = effective_time(green, 1, (B, A), _at(40), POLICY)
    at_second = effective_time(green, 1, (A, B), _at(40), POLICY)
    assert at_first == _at(30) - timedelta(seconds=POLICY.green_bonus_s)
    assert at_second - at_first == timedelta(seconds=POLICY.preference_step_s)


def test_appointment_not_yet_due_waits_like_a_normal_ticket() -> None:
    """A citizen whose appointment (预约) is hours away does not jump the line."""
    now = _at(60)
    normal = _ticket(A, 1, _at(10))
    far = now + timedelta(seconds=POLICY.appointment_early_s + 3600)
    appointment = _ticket(A, 2, _at(20), Priority.APPOINTMENT, appointment_at=far)
    assert _next([appointment, normal], now=now) == normal


def test_due_appointment_is_served_near_its_slot() -> None:
    """An appointment whose slot is within appointment_early_s goes before normal tickets issued a bit earlier."""
    now = _at(60)
    normals = [_ticket(A, i + 1, _at(50 + i)) for i in range(3)]
    appointment = _ticket(A, 4, _at(58), Priority.APPOINTMENT, appointment_at=now + timedelta(minutes=10))
    assert _next([*normals, appointment], now=now) == appointment
    at_edge = replace(appointment, appointment_at=now + timedelta(seconds=POLICY.appointment_early_s))
    assert _next([*normals, at_edge], now=now) == at_edge


def test_appointment_becomes_due_as_its_slot_nears() -> None:
    """The same appointment ticket is passed over early in the day and preferred once its slot is near."""
    slot = _at(180)
    normal = _ticket(A, 1, _at(100))
    appointment = _ticket(A, 2, _at(110), Priority.APPOINTMENT, appointment_at=slot)
    early = slot - timedelta(seconds=POLICY.appointment_early_s + 1)
    assert _next([normal, appointment], now=early) == normal
    assert _next([normal, appointment], now=slot - timedelta(minutes=5)) == appointment


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3600), st.sampled_from([Priority.NORMAL, Priority.APPOINTMENT]),
                          st.integers(1, 20000)), min_size=1, max_size=25),
       policies)
def test_appointments_not_yet_due_are_exactly_normal_tickets(rows, policy) -> None:
    """Turning every not-yet-due appointment into a normal ticket never changes who is called."""
    now = _at(120)
    not_due_from = now + timedelta(seconds=policy.appointment_early_s + 1)
    tickets = [
        _ticket(A, i + 1, MONDAY_9 + timedelta(seconds=s), p,
                appointment_at=not_due_from + timedelta(seconds=ahead) if p is Priority.APPOINTMENT else None)
        for i, (s, p, ahead) in enumerate(rows)
    ]
    as_normal = [replace(t, priority=Priority.NORMAL, appointment_at=None) for t in tickets]
    chosen = _next(tickets, now=now, policy=policy)
    chosen_normal = _next(as_normal, now=now, policy=policy)
    assert chosen is not None and chosen_normal is not None
    assert chosen.id == chosen_normal.id


# --- 5: window preference (科室柜员制) ---------------------------------------------------------------


def test_window_prefers_its_first_queue_when_tickets_joined_together() -> None:
    """A window serving [A, B] calls A's ticket before B's when both joined at about the same time."""
    a = _ticket(A, 1, _at(10))
    b = _ticket(B, 1, _at(10) - timedelta(seconds=POLICY.preference_step_s - 1))
    assert _next([b, a], queue_ids=(A, B)) == a
    assert _next([a, b], queue_ids=(B, A)) == b


def test_ticket_of_second_queue_wins_after_waiting_longer_than_the_preference_step() -> None:
    """A B ticket that has waited more than preference_step_s longer than the A ticket is called first."""
    a = _ticket(A, 1, _at(30))
    b = _ticket(B, 1, _at(30) - timedelta(seconds=POLICY.preference_step_s + 1))
    assert _next([a, b], queue_ids=(A, B)) == b


def test_window_calls_nobody_from_queues_it_does_not_serve() -> None:
    """A window serving only A returns nobody while only B and C tickets wait."""
    assert _next([_ticket(B, 1, _at(0)), _ticket(C, 1, _at(1))], queue_ids=(A,)) is None
    assert _next([], queue_ids=(A,)) is None


# --- 6: transfers (转移) ----------------------------------------------------------------------------


def test_transfer_into_another_queue_keeps_the_citizens_place() -> None:
    """A ticket moved into queue B with its original sort_ts goes before B tickets that joined later."""
    before = _ticket(B, 1, _at(0))
    later = [_ticket(B, i + 2, _at(10 + i)) for i in range(5)]
    moved = _ticket(B, 7, _at(5))  # joined A at 09:05, sent to B at 10:00
    order = _calling_order([*later, moved, before], queue_ids=(B,))
    assert order == [before, moved, *later]


def test_ticket_sent_to_a_window_is_called_there_only() -> None:
    """A ticket transferred to window 3 is invisible to windows 1 and 2, even ones serving its queue."""
    sent = _ticket(A, 1, _at(0), target_window_no=3)
    assert _next([sent], window_no=1, queue_ids=(A,)) is None
    assert _next([sent], window_no=2, queue_ids=(A, B)) is None
    assert _next([sent], window_no=3, queue_ids=(C,)) == sent


def test_ticket_sent_to_a_window_keeps_its_place_there() -> None:
    """At the window it was sent to, a transferred ticket goes before later arrivals, whatever its queue's rank."""
    sent = _ticket(B, 9, _at(5), target_window_no=3)
    own_earlier = _ticket(C, 1, _at(0))
    own_later = [_ticket(C, i + 2, _at(10 + i)) for i in range(3)]
    second_queue = _ticket(B, 1, _at(4))
    order = _calling_order([*own_later, second_queue, sent, own_earlier], window_no=3, queue_ids=(C, B))
    assert order[:2] == [own_earlier, sent]


# --- 7: numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("seq", "number"), [(1, "A001"), (15, "A015"), (999, "A999"), (1000, "A1000")])
def test_ticket_numbers_look_like_a015(seq: int, number: str) -> None:
    """Numbers shown on the board and spoken aloud are the prefix and at least three digits."""
    assert format_number("A", seq) == number


@given(st.integers(1, 100_000))
def test_ticket_number_reads_back_as_its_sequence(seq: int) -> None:
    """Every number keeps the prefix, at least three digits, and says the sequence without loss."""
    number = format_number("B", seq)
    assert number.startswith("B") and len(number) >= 4 and int(number[1:]) == seq


@pytest.mark.parametrize("seq", [0, -1])
def test_ticket_numbers_start_at_one(seq: int) -> None:
    """There is no ticket A000."""
    with pytest.raises(ValueError):
        format_number("A", seq)


# --- 8, 9: waiting estimates ------------------------------------------------------------------------


@given(st.integers(-3, 50), st.floats(0, 7200))
def test_nobody_ahead_means_no_wait(windows_open: int, avg_s: float) -> None:
    """With nobody in front, the estimated wait is zero."""
    assert estimate_wait_s(0, windows_open, avg_s) == 0


@given(st.integers(0, 500), st.integers(1, 40), st.integers(1, 40), st.floats(0, 7200))
def test_more_open_windows_never_lengthen_the_estimate(ahead: int, w1: int, w2: int, avg_s: float) -> None:
    """Opening windows never makes the estimated wait longer."""
    fewer, more = sorted((w1, w2))
    assert estimate_wait_s(ahead, more, avg_s) <= estimate_wait_s(ahead, fewer, avg_s)


@given(st.integers(0, 500), st.integers(0, 500), st.integers(0, 40), st.floats(0, 7200))
def test_more_people_ahead_never_shorten_the_estimate(a1: int, a2: int, windows: int, avg_s: float) -> None:
    """Someone further back never gets a shorter estimate."""
    fewer, more = sorted((a1, a2))
    assert estimate_wait_s(fewer, windows, avg_s) <= estimate_wait_s(more, windows, avg_s)


def test_estimate_with_concrete_numbers() -> None:
    """Ten people ahead at five minutes each: 50 minutes at one window, 25 at two, at least 1 s if anyone."""
    assert estimate_wait_s(10, 1, 300) == 3000
    assert estimate_wait_s(10, 2, 300) == 1500
    assert estimate_wait_s(1, 3, 1) == 1


@given(st.integers(0, 500), st.floats(0, 7200))
def test_no_open_window_counts_as_one(ahead: int, avg_s: float) -> None:
    """When every window is closed, the estimate assumes one will open rather than saying zero or infinity."""
    assert estimate_wait_s(ahead, 0, avg_s) == estimate_wait_s(ahead, 1, avg_s)


def test_negative_people_ahead_is_rejected() -> None:
    """A negative count ahead is a caller bug, not a zero wait."""
    with pytest.raises(ValueError):
        estimate_wait_s(-1, 2, 300)


@given(st.floats(1, 7200))
def test_average_service_time_without_history_is_the_default(default_s: float) -> None:
    """Early in the morning, before anyone was served, the configured default is used."""
    assert math.isclose(average_service_s([], default_s), default_s, rel_tol=1e-12)


@given(st.lists(st.floats(0, 7200), max_size=30), st.floats(0, 7200), st.floats(1, 7200))
def test_average_service_time_moves_toward_each_new_service(history, latest, default_s) -> None:
    """Each finished service pulls the average toward its own length, never past it."""
    before = average_service_s(history, default_s)
    after = average_service_s([*history, latest], default_s)
    low, high = sorted((before, latest))
    slack = 1e-9 * max(1.0, high)
    assert low - slack <= after <= high + slack


def test_average_service_time_follows_a_long_run_of_services() -> None:
    """After a hundred five-minute services the estimate is close to five minutes, whatever the default."""
    assert math.isclose(average_service_s([300.0] * 100, 900.0), 300.0, rel_tol=0.06)
    assert average_service_s([300.0], 900.0) < 900.0


# --- 10: re-queued no-shows (过号顺延) ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 7200), unique=True, max_size=20), st.integers(0, 25))
def test_requeued_no_show_lands_behind_exactly_the_given_number(offsets_s, positions) -> None:
    """A no-show re-queued 顺延N位 is called after exactly N of the waiting tickets (all, when fewer wait)."""
    waiting_ts = [MONDAY_9 + timedelta(seconds=s) for s in offsets_s]
    now = MONDAY_9 + timedelta(hours=3)
    ts = requeue_sort_ts(waiting_ts, now, positions)
    expected_ahead = min(positions, len(waiting_ts))
    assert sum(w < ts for w in waiting_ts) == expected_ahead
    assert sum(w > ts for w in waiting_ts) == len(waiting_ts) - expected_ahead
    if positions >= len(waiting_ts):
        assert ts == now
    # and the window really calls it there, though its number (seq 1) is older than everyone's
    others = [_ticket(A, i + 2, w) for i, w in enumerate(waiting_ts)]
    requeued = _ticket(A, 1, ts)
    assert _calling_order([*others, requeued]).index(requeued) == expected_ahead


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=20), st.integers(0, 25))
def test_requeued_no_show_never_jumps_ahead_with_equal_join_times(offsets_s, positions) -> None:
    """Even when waiting tickets share a join time, a re-queued no-show has at least N people in front."""
    waiting_ts = [MONDAY_9 + timedelta(seconds=s) for s in offsets_s]
    ts = requeue_sort_ts(waiting_ts, MONDAY_9 + timedelta(hours=1), positions)
    assert ts not in waiting_ts
    assert sum(w < ts for w in waiting_ts) >= min(positions, len(waiting_ts))


def test_requeue_into_an_empty_line_is_now() -> None:
    """With nobody waiting, the re-queued ticket simply joins now."""
    now = _at(30)
    assert requeue_sort_ts([], now, 3) == now
    assert requeue_sort_ts([], now, 0) == now


# --- 11: office hours -----------------------------------------------------------------------------


def _local(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss), tzinfo=TZ)


MONDAY = date(2024, 3, 4)


@pytest.mark.parametrize("day", [date(2024, 3, 2), date(2024, 3, 3)])
def test_no_tickets_at_weekends(day: date) -> None:
    """On Saturday and Sunday the kiosk says the hall is closed today."""
    with pytest.raises(IssuingClosed, match="今日不办公"):
        OfficeHours().check_issue(_local(day, 10, 0))


def test_no_tickets_on_extra_closed_days() -> None:
    """A configured holiday (国庆, a Tuesday) is closed although it is a weekday."""
    national_day = date(2024, 10, 1)
    hours = OfficeHours(extra_closed_days=frozenset({national_day}))
    with pytest.raises(IssuingClosed, match="今日不办公"):
        hours.check_issue(_local(national_day, 10, 0))
    hours.check_issue(_local(date(2024, 10, 8), 10, 0))


def test_tickets_may_be_taken_a_little_before_opening() -> None:
    """With open_early_min=30 and a 09:00 start, tickets are issued from 08:30, not at 08:29."""
    hours = OfficeHours(open_early_min=30)
    with pytest.raises(IssuingClosed, match="08:30") as refused:
        hours.check_issue(_local(MONDAY, 8, 29, 59))
    assert _bilingual(refused.value.message)
    hours.check_issue(_local(MONDAY, 8, 30))


def test_tickets_are_issued_until_closing_time() -> None:
    """Without a cutoff a ticket can be taken at 17:29:59 but not at 17:30."""
    hours = OfficeHours()
    hours.check_issue(_local(MONDAY, 17, 29, 59))
    with pytest.raises(IssuingClosed, match="17:30") as refused:
        hours.check_issue(_local(MONDAY, 17, 30))
    assert _bilingual(refused.value.message)


def test_issue_cutoff_stops_tickets_before_closing() -> None:
    """With a 30-minute cutoff, issuing stops at 17:00."""
    hours = OfficeHours(issue_cutoff_min=30)
    hours.check_issue(_local(MONDAY, 16, 59))
    with pytest.raises(IssuingClosed, match="17:00"):
        hours.check_issue(_local(MONDAY, 17, 0))


def test_lunch_break_refuses_tickets_only_when_configured() -> None:
    """At 12:30 tickets are issued by default; with issue_during_lunch=False the kiosk says it is lunch."""
    OfficeHours().check_issue(_local(MONDAY, 12, 30))
    hours = OfficeHours(issue_during_lunch=False)
    for hh, mm in [(12, 0), (12, 30), (13, 29)]:
        with pytest.raises(IssuingClosed, match="午休") as refused:
            hours.check_issue(_local(MONDAY, hh, mm))
        assert _bilingual(refused.value.message)
    hours.check_issue(_local(MONDAY, 11, 59))
    hours.check_issue(_local(MONDAY, 13, 30))


def test_early_tickets_are_allowed_when_lunch_issuing_is_off() -> None:
    """Turning off lunch-time issuing must not also refuse the open_early_min window before the morning opens."""
    hours = OfficeHours(issue_during_lunch=False, open_early_min=30)
    hours.check_issue(_local(MONDAY, 8, 45))  # 08:30-09:00 is before opening, not a lunch break


@settings(max_examples=200, deadline=None)
@given(st.times(min_value=time(9, 0)), st.booleans())
def test_issuing_window_over_the_whole_weekday(t: time, lunch: bool) -> None:
    """On a weekday from 09:00, a ticket is issued exactly in the sessions (and the lunch gap if allowed)."""
    hours = OfficeHours(issue_during_lunch=lunch)
    local = datetime.combine(MONDAY, t, tzinfo=TZ)
    in_session = time(9, 0) <= t < time(12, 0) or time(13, 30) <= t < time(17, 30)
    should_issue = in_session or (lunch and time(12, 0) <= t < time(13, 30))
    if should_issue:
        hours.check_issue(local)
    else:
        with pytest.raises(IssuingClosed):
            hours.check_issue(local)


@pytest.mark.parametrize(
    "sessions",
    [
        ((time(9, 0), time(12, 0)), (time(11, 0), time(14, 0))),  # overlap
        ((time(12, 0), time(9, 0)),),  # ends before it starts
        ((time(9, 0), time(9, 0)),),  # empty session
        ((time(13, 30), time(17, 30)), (time(9, 0), time(12, 0))),  # out of order
        (),
    ],
)
def test_office_hours_reject_impossible_sessions(sessions) -> None:
    """A misconfigured site (overlapping, inverted or missing sessions) is refused at load time."""
    with pytest.raises(ValueError):
        OfficeHours(sessions=sessions)


def test_office_hours_accept_back_to_back_sessions() -> None:
    """Sessions that touch (09:00-12:00, 12:00-17:00) are a valid day with no lunch gap."""
    hours = OfficeHours(sessions=((time(9, 0), time(12, 0)), (time(12, 0), time(17, 0))), issue_during_lunch=False)
    hours.check_issue(_local(MONDAY, 12, 0))


# --- 12: policy and transitions -------------------------------------------------------------------


@pytest.mark.parametrize(
    "field_name",
    ["green_bonus_s", "appointment_bonus_s", "appointment_early_s", "preference_step_s", "requeue_positions"],
)
def test_policy_rejects_negative_values(field_name: str) -> None:
    """A site cannot configure a negative bonus, step or re-queue distance."""
    with pytest.raises(ValueError):
        Policy(**{field_name: -1})


@pytest.mark.parametrize(("max_calls", "no_show_after_calls"), [(2, 3), (0, 0), (3, 0), (1, 2)])
def test_policy_rejects_impossible_call_limits(max_calls: int, no_show_after_calls: int) -> None:
    """No-show must become possible within the allowed calls, and at least one call is needed."""
    with pytest.raises(ValueError):
        Policy(max_calls=max_calls, no_show_after_calls=no_show_after_calls)


def test_policy_accepts_the_defaults_and_edge_values() -> None:
    """Zero bonuses and no_show_after_calls == max_calls are allowed."""
    Policy()
    Policy(green_bonus_s=0, appointment_bonus_s=0, appointment_early_s=0, preference_step_s=0, requeue_positions=0,
           max_calls=1, no_show_after_calls=1)


@given(st.integers(1, 6), st.integers(0, 8))
def test_recall_is_refused_once_max_calls_is_reached(max_calls: int, call_no: int) -> None:
    """A clerk may recall until the ticket was called max_calls times, then must mark it no-show."""
    policy = Policy(max_calls=max_calls, no_show_after_calls=1)
    if call_no < max_calls:
        check_recall(call_no, policy)
    else:
        with pytest.raises(CallLimitReached, match=str(call_no)) as refused:
            check_recall(call_no, policy)
        assert _bilingual(refused.value.message)


@given(st.integers(1, 6), st.integers(0, 8))
def test_no_show_is_refused_before_enough_calls(no_show_after: int, call_no: int) -> None:
    """A clerk cannot mark 过号 before calling the ticket no_show_after_calls times."""
    policy = Policy(max_calls=6, no_show_after_calls=no_show_after)
    if call_no >= no_show_after:
        check_no_show(call_no, policy)
    else:
        with pytest.raises(CallLimitReached, match=str(no_show_after)) as refused:
            check_no_show(call_no, policy)
        assert _bilingual(refused.value.message)


@given(st.sampled_from(list(Status)), st.sampled_from(list(TicketAction)))
def test_wrong_state_is_refused_with_a_message_naming_it(status: Status, action: TicketAction) -> None:
    """Acting on a ticket in a state the transition table does not allow fails with a 409 naming its state."""
    try:
        transition(status, action)
        return
    except TicketNotInState as exc:
        refused = exc
    assert isinstance(refused, QueueError) and refused.status == 409 and refused.code == "TicketNotInState"
    assert status.value in refused.message and TRANSITIONS[action].label in refused.message
    assert _bilingual(refused.message)


def test_make_up_working_saturday_issues_tickets() -> None:
    """A Saturday declared a make-up working day (调休上班) issues tickets like a weekday."""
    saturday = date(2026, 10, 10)
    hours = OfficeHours(extra_open_days=frozenset({saturday}))
    hours.check_issue(datetime(2026, 10, 10, 10, 0, tzinfo=TZ))
    with pytest.raises(IssuingClosed):
        OfficeHours().check_issue(datetime(2026, 10, 10, 10, 0, tzinfo=TZ))


def test_sign_out_warns_while_people_issued_before_closing_wait() -> None:
    """不接待完最后一位群众不下班: signing out with people waiting is refused naming how many, unless confirmed."""
    from services.queue import domain as qd

    qd.check_sign_out(0, confirmed=False)
    qd.check_sign_out(3, confirmed=True)
    with pytest.raises(qd.StillWaiting) as caught:
        qd.check_sign_out(3, confirmed=False)
    assert caught.value.detail == {"waiting": 3} and caught.value.message.startswith("还有 3 位群众")
