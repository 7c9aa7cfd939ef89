"""Calling order (叫号顺序), pure: which ticket a window calls next, and where a re-queued no-show rejoins.

Every waiting ticket gets an *effective time*; the window calls the smallest::

    effective = sort_ts - priority_bonus + preference_rank * preference_step

- ``sort_ts`` is when the ticket joined the line. A transfer (转移) keeps it, so the citizen keeps
  the place they had; a re-queued no-show (过号重排) gets a later one.
- ``priority_bonus`` is ``green_bonus_s`` for the green channel (绿色通道) and ``appointment_bonus_s``
  for an appointment (预约) whose slot is due (within ``appointment_early_s``); 0 otherwise.
- ``preference_rank`` is the position of the ticket's queue in the window's list (科室柜员制); 0 for a
  ticket transferred to this very window.

Aging comes for free: a normal ticket can be passed only by tickets that joined at most
``green_bonus_s`` (or ``appointment_bonus_s`` + ``preference_step``…) after it, so nobody starves.
Ties fall back to FIFO (``sort_ts``, then the number). ``QueueStore.ahead`` counts the same order in SQL
(tests/integration/test_queue_ahead.py holds the two together).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from services.queue.domain import Candidate, Policy, Priority


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


def requeue_sort_ts(waiting_sort_ts: Sequence[datetime], now: datetime, positions: int) -> datetime:
    """Where a no-show rejoins the line: just behind the first ``positions`` waiting tickets
    (过号顺延), or at the end when fewer wait."""
    ordered = sorted(waiting_sort_ts)
    if positions < len(ordered):
        anchor = ordered[positions - 1] if positions > 0 else ordered[0] - timedelta(microseconds=2)
        return anchor + timedelta(microseconds=1)
    return now
