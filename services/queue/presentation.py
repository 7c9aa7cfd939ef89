"""How the queue's rows are shown: a ticket with the people ahead and the expected wait, a window, the queues with
their waiting counts, the board's ``call`` notice. JSON-ready dicts (the hot paths answer them as they are)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.queue import domain as d
from services.queue.context import QueueContext


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="milliseconds") if dt else None


def since(dt: datetime | None, now: datetime) -> int:
    """Whole seconds from ``dt`` to ``now`` (0 without ``dt``)."""
    return max(0, int((now - dt).total_seconds())) if dt else 0


async def present(ctx: QueueContext, conn: asyncpg.Connection, t: asyncpg.Record, now: datetime | None = None
                  ) -> dict[str, Any]:
    """A ticket as the citizen and the clerk see it; a waiting one with the people ahead and the expected wait."""
    now = now or ctx.now()
    q = await ctx.queue(conn, t["queue_id"])
    ahead = wait = 0
    if t["status"] in d.WAITING_STATES:
        policy, _ = await ctx.config(conn)
        ahead = await ctx.store.ahead(conn, t, now, policy)
        windows = await ctx.store.windows_open_for(conn, t["queue_id"])
        wait = d.estimate_wait_s(ahead, windows, await ctx.avg_service_s(conn, q["id"], q["default_service_s"]))
    return {
        "id": str(t["id"]), "number": t["number"], "queue_id": str(t["queue_id"]), "queue_prefix": q["prefix"],
        "queue_name": q["name"], "matter_id": t["matter_id"], "priority": t["priority"],
        "channel": t["channel"], "status": t["status"], "ahead": ahead, "estimated_wait_s": wait,
        "window_no": t["window_no"] if t["window_no"] is not None else t["target_window_no"],
        "call_no": t["call_no"], "issued_at": iso(t["issued_at"]), "called_at": iso(t["called_at"]),
    }


def window_view(w: asyncpg.Record) -> dict[str, Any]:
    return {"no": w["no"], "name": w["name"], "hall": w["hall"], "state": w["state"], "staff_id": w["staff_id"],
            "reason": w["reason"], "state_since": iso(w["state_since"])}


async def queues_view(ctx: QueueContext, conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every active queue: waiting, longest wait, expected wait of a newcomer, windows open for it."""
    now = ctx.now()
    out = []
    for q in await ctx.board_store.queues(conn):
        avg = await ctx.avg_service_s(conn, q["id"], q["default_service_s"])
        out.append({
            "id": str(q["id"]), "prefix": q["prefix"], "name": q["name"], "hall": q["hall"],
            "waiting": q["waiting"], "longest_wait_s": since(q["oldest_issued_at"], now),
            "estimated_wait_s": d.estimate_wait_s(q["waiting"], q["windows_open"], avg),
            "windows_open": q["windows_open"],
        })
    return out


def call_notice(ticket_id: uuid.UUID, number: str, window_no: int, call_no: int, called_at: datetime) -> str:
    """The board's ``call`` event as of this very call (the voice queue must not read a later state)."""
    return "call:" + json.dumps({"ticket_id": str(ticket_id), "number": number, "window_no": window_no,
                                 "call_no": call_no, "called_at": iso(called_at.astimezone(UTC))},
                                ensure_ascii=False)


def call_payload(t: asyncpg.Record) -> str:
    return call_notice(t["id"], t["number"], t["window_no"], t["call_no"], t["called_at"])
