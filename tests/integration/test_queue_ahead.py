"""``QueueStore.ahead`` counts in SQL (every ticket view and issue runs it) what the pure calling order of
``calling_order.choose_next`` decides: the two copies of the calling bonus must agree."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.queue.calling_order import choose_next
from services.queue.domain import Candidate, Policy, Priority, Status
from services.queue.store import QueueStore, candidate
from shared.db import migrate

QUEUES = [uuid.UUID(int=i + 1) for i in range(3)]
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WAITING = (Status.WAITING, Status.TRANSFERRED)

# whole minutes, so that effective times, due limits and places in line often tie exactly
minutes = st.integers(0, 40).map(lambda m: timedelta(minutes=m))
ticket = st.fixed_dictionaries({
    "queue": st.sampled_from(QUEUES),
    "joined": minutes,  # before NOW
    "priority": st.sampled_from(list(Priority)),
    "appointment": st.none() | st.integers(-30, 40).map(lambda m: timedelta(minutes=m)),  # from NOW
    "target_window_no": st.none() | st.sampled_from([1, 2]),  # transferred to a window
    "status": st.sampled_from([*WAITING, *WAITING, Status.CALLED, Status.DONE]),
})
policies = st.builds(Policy, green_bonus_s=st.sampled_from([0, 300, 900]),
                     appointment_bonus_s=st.sampled_from([0, 600, 1200]),
                     appointment_early_s=st.sampled_from([0, 600, 900]))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """One database and one connection for all the examples of a test, with the queue schema and three queues."""
    conn = await asyncpg.connect(database_url)
    await migrate(conn, "shared.migrations", "services.queue.migrations")
    await conn.executemany("INSERT INTO queues (id, prefix, name) VALUES ($1, $2, $3)",
                           [(q, chr(ord("A") + i), f"队列{i}") for i, q in enumerate(QUEUES)])
    yield conn
    await conn.close()


def calls_before(waiting: list[Candidate], me: Candidate, policy: Policy) -> int:
    """How many tickets a window serving ``me``'s line calls, one by one (``choose_next``), before ``me``. The line
    is the tickets sent to the same window, or else the tickets of the same queue that were not sent to a window."""
    if me.target_window_no is not None:
        window_no, queue_ids = me.target_window_no, []
    else:
        window_no, queue_ids = 0, [me.queue_id]  # no ticket is sent to window 0
    left, n = list(waiting), 0
    while (pick := choose_next(left, window_no=window_no, queue_ids=queue_ids, now=NOW, policy=policy)) != me:
        assert pick is not None
        left.remove(pick)
        n += 1
    return n


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ticket, min_size=1, max_size=20), policies)
async def test_ahead_counts_the_tickets_the_calling_order_calls_first(
        db: asyncpg.Connection, tickets: list[dict], policy: Policy) -> None:
    """In random lines (green, appointments, transfers, 3 queues) ahead() equals the calls choose_next makes first."""
    await db.execute("TRUNCATE tickets")
    await db.executemany(
        """INSERT INTO tickets (id, service_day, queue_id, seq, number, priority, channel, status, issued_at, sort_ts,
                                appointment_at, target_window_no)
           VALUES ($1, $2, $3, $4, $5, $6, 'kiosk', $7, $8, $8, $9, $10)""",
        [(uuid.uuid4(), NOW.date(), t["queue"], seq, f"X{seq:03d}", t["priority"], t["status"], NOW - t["joined"],
          None if t["appointment"] is None else NOW + t["appointment"], t["target_window_no"])
         for seq, t in enumerate(tickets, start=1)])
    store = QueueStore()
    rows = [r for r in await db.fetch("SELECT * FROM tickets") if r["status"] in WAITING]
    waiting = [candidate(r) for r in rows]
    for row, me in zip(rows, waiting, strict=True):
        assert await store.ahead(db, row, NOW, policy) == calls_before(waiting, me, policy), me
