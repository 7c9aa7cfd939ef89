"""What the hall display shows (综合屏), the periodic ``queue.snapshot``, the end-of-day sweep, and the
server-sent event fan-out driven by PostgreSQL NOTIFY (so several processes can serve one board)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

from services.queue import domain as d
from services.queue.app import QueueApp, _iso, since
from services.queue.store import BOARD_CHANNEL
from shared.events import queue as ev
from shared.logging import get_logger
from shared.sse import NotifyHub

log = get_logger("board")


async def board_view(app: QueueApp) -> dict[str, Any]:
    now = app.now()
    day = app.service_day(now)
    async with app.pool.acquire() as conn:
        queues = await queues_view(app, conn)
        windows = await app.store.windows(conn)
        current = {
            r["window_no"]: r for r in await conn.fetch(
                """SELECT t.number, t.window_no, t.status, t.call_no, t.called_at, t.id FROM tickets t
                   WHERE t.status IN ('called', 'serving')""")
        }
        last_done = {
            r["window_no"]: r for r in await conn.fetch(
                """SELECT DISTINCT ON (t.window_no) t.window_no, t.id, t.number, t.finished_at FROM tickets t
                   WHERE t.service_day = $1 AND t.status = 'done' AND t.window_no IS NOT NULL
                   ORDER BY t.window_no, t.finished_at DESC""", day)
        }
        recent = await app.store.recent_calls(conn, day)
        counts = await app.store.today_counts(conn, day)
    return {
        "site": app.site, "site_name": app.settings.site_name, "updated_at": _iso(now),
        "windows": [
            {"no": w["no"], "name": w["name"], "hall": w["hall"], "state": w["state"], "staff_id": w["staff_id"],
             "queues": list(w["prefixes"] or []),
             "current": ({"ticket_id": str(c["id"]), "number": c["number"], "status": c["status"],
                          "call_no": c["call_no"], "called_at": _iso(c["called_at"])}
                         if (c := current.get(w["no"])) else None),
             # the latest service finished here today: the rating pad follows it (call, start and complete can
             # all fall within one coalesced board update, so "current" alone may never show the change)
             "last_done": ({"ticket_id": str(f["id"]), "number": f["number"], "finished_at": _iso(f["finished_at"])}
                           if (f := last_done.get(w["no"])) else None)}
            for w in windows
        ],
        "recent_calls": [{"ticket_id": str(r["id"]), "number": r["number"], "window_no": r["window_no"],
                          "call_no": r["call_no"], "called_at": _iso(r["called_at"])} for r in recent],
        "queues": queues,
        "today": {"issued": sum(counts.values()), "served": counts.get("done", 0),
                  "no_show": counts.get("no_show", 0), "waiting": counts.get("waiting", 0)
                  + counts.get("transferred", 0)},
    }


async def queues_view(app: QueueApp, conn: asyncpg.Connection) -> list[dict[str, Any]]:
    now = app.now()
    out = []
    for q in await app.store.queues(conn):
        avg = await app._avg_service_s(conn, q["id"], q["default_service_s"])
        out.append({
            "id": str(q["id"]), "prefix": q["prefix"], "name": q["name"], "hall": q["hall"],
            "waiting": q["waiting"], "longest_wait_s": since(q["oldest_issued_at"], now),
            "estimated_wait_s": d.estimate_wait_s(q["waiting"], q["windows_open"], avg),
            "windows_open": q["windows_open"],
        })
    return out


async def publish_snapshot(app: QueueApp) -> None:
    """Write one ``queue.snapshot`` to the outbox (the relay publishes it)."""
    from shared.outbox import add_to_outbox

    now = app.now()
    async with app.pool.acquire() as conn, conn.transaction():
        queues = await queues_view(app, conn)
        windows = await app.store.windows(conn)
        snap = ev.QueueSnapshot(
            queues=[ev.QueueSnapshotItem(queue_id=q["id"], waiting=q["waiting"], longest_wait_s=q["longest_wait_s"],
                                         windows_open=q["windows_open"]) for q in queues],
            windows=[ev.WindowSnapshotItem(window_no=w["no"], state=w["state"], staff_id=w["staff_id"])
                     for w in windows],
        )
        await add_to_outbox(conn, app._event(snap, now))


async def close_past_days(app: QueueApp) -> int:
    """Tickets still waiting from an earlier day are cancelled (reason ``day_closed``), with events."""
    now = app.now()
    day = app.service_day(now)
    async with app.pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """UPDATE tickets SET status = 'cancelled', finished_at = $2
               WHERE service_day < $1 AND status IN ('waiting', 'transferred', 'called', 'serving')
               RETURNING id""", day, now)
        if rows:
            await app._emit(conn, now, *(ev.TicketCancelled(ticket_id=r["id"], reason="day_closed") for r in rows))
    return len(rows)


async def snapshot_loop(app: QueueApp, interval_s: float) -> None:
    while True:
        try:
            await close_past_days(app)
            await publish_snapshot(app)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("snapshot_failed", error=repr(exc))
        await asyncio.sleep(interval_s)


class BoardHub(NotifyHub):
    """Every SSE client of the process gets the board after each change (coalesced over ``debounce_s``) and a
    ``call`` event for every call and recall (for the voice queue)."""

    def __init__(self, app: QueueApp, debounce_s: float = 0.2) -> None:
        super().__init__(app.pool, BOARD_CHANNEL, debounce_s=debounce_s, queue_max=100)
        self.app = app

    def on_payload(self, payload: str) -> None:
        if payload.startswith("call:"):
            self.broadcast("call", json.loads(payload[5:]))

    async def flush(self) -> None:
        if self.clients:
            self.broadcast("board", await board_view(self.app))

    async def first(self) -> tuple[str, Any]:
        return "board", await board_view(self.app)
