"""What the hall display shows (综合屏), the periodic ``queue.snapshot``, the closing and end-of-day sweeps, and the
server-sent event fan-out driven by PostgreSQL NOTIFY (so several processes can serve one board)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from services.queue import domain as d
from services.queue.context import QueueContext
from services.queue.presentation import iso, queues_view
from services.queue.store import BOARD_CHANNEL
from shared.events import queue as ev
from shared.logging import get_logger
from shared.outbox import add_to_outbox
from shared.sse import NotifyHub

log = get_logger("board")


async def board_view(ctx: QueueContext) -> dict[str, Any]:
    now = ctx.now()
    day = ctx.service_day(now)
    store = ctx.board_store
    async with ctx.pool.acquire() as conn:
        queues = await queues_view(ctx, conn)
        windows = await store.windows(conn)
        current = await store.at_windows(conn)
        last_done = await store.last_done(conn, day)
        recent = await store.recent_calls(conn, day)
        counts = await store.today_counts(conn, day)
    return {
        "site": ctx.site, "site_name": ctx.settings.site_name, "updated_at": iso(now),
        "windows": [
            {"no": w["no"], "name": w["name"], "hall": w["hall"], "state": w["state"], "staff_id": w["staff_id"],
             "queues": list(w["prefixes"] or []),
             "current": ({"ticket_id": str(c["id"]), "number": c["number"], "status": c["status"],
                          "call_no": c["call_no"], "called_at": iso(c["called_at"])}
                         if (c := current.get(w["no"])) else None),
             # the latest service finished here today: the rating pad follows it (call, start and complete can
             # all fall within one coalesced board update, so "current" alone may never show the change)
             "last_done": ({"ticket_id": str(f["id"]), "number": f["number"], "finished_at": iso(f["finished_at"])}
                           if (f := last_done.get(w["no"])) else None),
             # 不接待完最后一位群众不下班: its clerk signed out today while people still waited (the manager sees it)
             "left_waiting": ({"count": w["left_waiting"], "staff_id": w["left_by"], "at": iso(w["left_at"])}
                              if w["left_waiting"] and ctx.service_day(w["left_at"]) == day else None)}
            for w in windows
        ],
        "recent_calls": [{"ticket_id": str(r["id"]), "number": r["number"], "window_no": r["window_no"],
                          "call_no": r["call_no"], "called_at": iso(r["called_at"])} for r in recent],
        "queues": queues,
        "today": {"issued": sum(counts.values()), "served": counts.get(d.Status.DONE, 0),
                  "no_show": counts.get(d.Status.NO_SHOW, 0),
                  "waiting": sum(counts.get(s, 0) for s in d.WAITING_STATES)},
    }


async def publish_snapshot(ctx: QueueContext) -> None:
    """Write one ``queue.snapshot`` to the outbox (the relay publishes it)."""
    now = ctx.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        queues = await queues_view(ctx, conn)
        windows = await ctx.board_store.windows(conn)
        busy = await ctx.board_store.at_windows(conn)
        waiting = {str(q["id"]): q["waiting"] for q in queues}
        snap = ev.QueueSnapshot(
            queues=[ev.QueueSnapshotItem(queue_id=q["id"], waiting=q["waiting"], longest_wait_s=q["longest_wait_s"],
                                         windows_open=q["windows_open"]) for q in queues],
            windows=[ev.WindowSnapshotItem(window_no=w["no"], state=w["state"], staff_id=w["staff_id"],
                                           waiting=sum(waiting.get(str(i), 0) for i in w["queue_ids"] or []),
                                           busy=w["no"] in busy)
                     for w in windows],
        )
        await add_to_outbox(conn, ctx.event(snap, now))


async def close_past_days(ctx: QueueContext) -> int:
    """Tickets still waiting from an earlier day are cancelled (reason ``day_closed``: the service was down when
    that day closed), with events."""
    now = ctx.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        ids = await ctx.board_store.close_past_days(conn, ctx.service_day(now), now)
        if ids:
            await ctx.emit(conn, now, *(ev.TicketCancelled(ticket_id=i, reason=d.DAY_CLOSED) for i in ids))
    return len(ids)


async def close_unserved(ctx: QueueContext) -> int:
    """Once today's last session has ended, tickets issued before it and still in line are cancelled at once
    (reason ``closed_unserved``: central counts them as ``turned_away``), with events. Tickets at a window are
    being served and stay."""
    now = ctx.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        _, hours = await ctx.config(conn)
        closing = d.closing_at(now, hours.sessions[-1][1])
        if now < closing:
            return 0
        ids = await ctx.board_store.close_unserved(conn, ctx.service_day(now), closing, now)
        if ids:
            await ctx.emit(conn, now, *(ev.TicketCancelled(ticket_id=i, reason=d.CLOSED_UNSERVED) for i in ids))
    if ids:
        log.info("closed_unserved", tickets=len(ids))
    return len(ids)


async def snapshot_loop(ctx: QueueContext, interval_s: float) -> None:
    while True:
        try:
            await close_past_days(ctx)
            await close_unserved(ctx)
            await publish_snapshot(ctx)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("snapshot_failed", error=repr(exc))
        await asyncio.sleep(interval_s)


class BoardHub(NotifyHub):
    """Every SSE client of the process gets the board after each change (coalesced over ``debounce_s``) and a
    ``call`` event for every call and recall (for the voice queue)."""

    def __init__(self, ctx: QueueContext, debounce_s: float = 0.2) -> None:
        super().__init__(ctx.pool, BOARD_CHANNEL, debounce_s=debounce_s, queue_max=100)
        self.ctx = ctx

    def on_payload(self, payload: str) -> None:
        if payload.startswith("call:"):
            self.broadcast("call", json.loads(payload[5:]))

    async def flush(self) -> None:
        if self.clients:
            self.broadcast("board", await board_view(self.ctx))

    async def first(self) -> tuple[str, Any]:
        return "board", await board_view(self.ctx)
