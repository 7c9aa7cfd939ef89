"""Use cases of a ticket (取号, 重呼, 开始办理, 办结, 过号, 过号重排, 转移, 取消): load, decide (domain.py), save
and record the event in the outbox, all in one transaction. Call-next is ``calling.py``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from services.queue import domain as d
from services.queue.calling_order import requeue_sort_ts
from services.queue.context import QueueContext
from services.queue.presentation import call_payload, present
from shared import errors
from shared.auth import ClerkClaims
from shared.events import queue as ev
from shared.events.base import EventData
from shared.ids import uuid7

# what an action does to the ticket at the window, in the transaction: the ticket afterwards, its events, and
# the board notice (a ``call`` for a recall, otherwise empty)
Outcome = tuple[asyncpg.Record, list[EventData], str]
Change = Callable[[asyncpg.Connection, asyncpg.Record, d.Status, datetime, d.Policy], Awaitable[Outcome]]


class TicketCases:
    def __init__(self, ctx: QueueContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    async def issue(self, *, matter_id: str | None, queue_id: uuid.UUID | None, priority: ev.Priority, channel: str,
                    appointment_at: datetime | None, staff: ClerkClaims | None) -> dict[str, Any]:
        """取号: a number of the matter's (or the given) queue, with the people ahead and the expected wait."""
        ctx = self.ctx
        now = ctx.now()
        if priority == d.Priority.GREEN and staff is None:
            raise errors.Forbidden("绿色通道需工作人员确认 / the green channel is confirmed by staff (clerk token)")
        if priority == d.Priority.APPOINTMENT and appointment_at is None:
            raise errors.Unprocessable("预约取号需要预约时间 / appointment_at is required for an appointment")
        if priority != d.Priority.APPOINTMENT:
            appointment_at = None
        async with ctx.pool.acquire() as conn, conn.transaction():
            _, hours = await ctx.config(conn)
            if ctx.settings.enforce_office_hours:
                hours.check_issue(now, ctx.calendar)
            if matter_id is not None:
                route = await self.store.route(conn, matter_id)
                if route is None:
                    raise errors.NotFound(f"事项不存在或未开通 / matter {matter_id} is not served here")
                if queue_id is not None and queue_id != route["queue_id"]:
                    raise errors.Unprocessable("事项与队列不一致 / matter_id and queue_id disagree")
                queue_id = route["queue_id"]
            if queue_id is None:
                raise errors.Unprocessable("需要 matter_id 或 queue_id / give matter_id or queue_id")
            q = await ctx.queue(conn, queue_id)
            day = ctx.service_day(now)
            seq = await self.store.next_seq(conn, queue_id, day)
            t = await self.store.insert_ticket(conn, {
                "id": uuid7(), "service_day": day, "queue_id": queue_id, "seq": seq,
                "number": d.format_number(q["prefix"], seq), "matter_id": matter_id, "priority": priority,
                "channel": channel, "issued_at": now, "appointment_at": appointment_at,
            })
            view = await present(ctx, conn, t, now)
            await ctx.emit(conn, now, ev.TicketIssued(
                ticket_id=t["id"], number=t["number"], queue_id=queue_id, matter_id=matter_id,
                priority=priority, channel=channel, ahead=view["ahead"], estimated_wait_s=view["estimated_wait_s"]))
        return view

    async def get(self, ticket_id: uuid.UUID) -> dict[str, Any]:
        async with self.ctx.pool.acquire() as conn:
            t = await self.store.ticket(conn, ticket_id)
            if t is None:
                raise errors.NotFound(f"票号不存在 / no ticket {ticket_id}")
            return await present(self.ctx, conn, t, None)

    # --- at the window ----------------------------------------------------------------------------
    async def recall(self, claims: ClerkClaims, ticket_id: uuid.UUID) -> dict[str, Any]:
        """重呼: the called ticket is called again (at most ``Policy.max_calls`` calls)."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, _: d.Status, now: datetime,
                         policy: d.Policy) -> Outcome:
            d.check_recall(t["call_no"], policy)
            t = await self.store.update_ticket(conn, t["id"], call_no=t["call_no"] + 1, called_at=now)
            waited = max(0, int((t["first_called_at"] - t["issued_at"]).total_seconds()))
            return t, [ev.TicketCalled(ticket_id=t["id"], number=t["number"], queue_id=t["queue_id"],
                                       window_no=claims.window_no, staff_id=claims.staff_id, call_no=t["call_no"],
                                       waited_s=waited)], call_payload(t)

        return await self._act(claims, ticket_id, d.TicketAction.RECALL, change)

    async def start(self, claims: ClerkClaims, ticket_id: uuid.UUID) -> dict[str, Any]:
        """开始办理: the citizen came to the window."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         _: d.Policy) -> Outcome:
            t = await self.store.update_ticket(conn, t["id"], status=to.value, started_at=now)
            return t, [ev.TicketStarted(ticket_id=t["id"], window_no=claims.window_no, staff_id=claims.staff_id)], ""

        return await self._act(claims, ticket_id, d.TicketAction.START, change)

    async def complete(self, claims: ClerkClaims, ticket_id: uuid.UUID) -> dict[str, Any]:
        """办结: the service is done (started now if it was only called)."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         _: d.Policy) -> Outcome:
            t = await self.store.update_ticket(conn, t["id"], status=to.value, finished_at=now,
                                               started_at=t["started_at"] or t["called_at"])
            waited = int((t["first_called_at"] - t["issued_at"]).total_seconds())
            served = int((now - t["started_at"]).total_seconds())
            self.ctx.served(t["queue_id"])
            return t, [ev.TicketCompleted(ticket_id=t["id"], number=t["number"], queue_id=t["queue_id"],
                                          matter_id=t["matter_id"], window_no=claims.window_no,
                                          staff_id=claims.staff_id, waited_s=max(0, waited),
                                          served_s=max(0, served))], ""

        return await self._act(claims, ticket_id, d.TicketAction.COMPLETE, change)

    async def no_show(self, claims: ClerkClaims, ticket_id: uuid.UUID) -> dict[str, Any]:
        """过号: nobody came after ``Policy.no_show_after_calls`` calls."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         policy: d.Policy) -> Outcome:
            d.check_no_show(t["call_no"], policy)
            t = await self.store.update_ticket(conn, t["id"], status=to.value, finished_at=now)
            return t, [ev.TicketNoShow(ticket_id=t["id"], window_no=claims.window_no, calls=t["call_no"])], ""

        return await self._act(claims, ticket_id, d.TicketAction.NO_SHOW, change)

    async def requeue(self, claims: ClerkClaims, ticket_id: uuid.UUID) -> dict[str, Any]:
        """过号重排: today's no-show rejoins the line behind the next ``Policy.requeue_positions`` waiting."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         policy: d.Policy) -> Outcome:
            if t["service_day"] != self.ctx.service_day(now):
                raise errors.Conflict("只能重排当天的票号 / only today's tickets can be re-queued")
            line = await self.store.waiting_sort_ts(conn, t["queue_id"], policy.requeue_positions + 1)
            sort_ts = requeue_sort_ts(line, now, policy.requeue_positions)
            t = await self.store.update_ticket(conn, t["id"], status=to.value, sort_ts=sort_ts, window_no=None,
                                               staff_id=None, call_no=0, called_at=None, finished_at=None)
            return t, [ev.TicketRequeued(ticket_id=t["id"], queue_id=t["queue_id"], window_no=claims.window_no)], ""

        return await self._act(claims, ticket_id, d.TicketAction.REQUEUE, change)

    async def transfer(self, claims: ClerkClaims, ticket_id: uuid.UUID, *, to_queue_id: uuid.UUID | None = None,
                       to_window_no: int | None = None) -> dict[str, Any]:
        """转移: to another queue or window; the citizen keeps their place in line (sort_ts)."""
        if (to_queue_id is None) == (to_window_no is None):
            raise errors.Unprocessable("转移需要 to_queue_id 或 to_window_no 之一 / give to_queue_id or to_window_no")

        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         _: d.Policy) -> Outcome:
            if to_queue_id is not None:
                await self.ctx.queue(conn, to_queue_id)
            elif to_window_no == claims.window_no:
                raise errors.Unprocessable("不能转给本窗口 / cannot transfer to the same window")
            elif to_window_no is not None and await self.store.window(conn, to_window_no) is None:
                raise errors.NotFound(f"窗口不存在 / no window {to_window_no}")
            t = await self.store.back_in_line(conn, t["id"], to, queue_id=to_queue_id, target_window_no=to_window_no)
            return t, [ev.TicketTransferred(ticket_id=t["id"], from_window_no=claims.window_no,
                                            to_queue_id=to_queue_id, to_window_no=to_window_no)], ""

        return await self._act(claims, ticket_id, d.TicketAction.TRANSFER, change)

    async def cancel(self, claims: ClerkClaims, ticket_id: uuid.UUID, reason: str = "cancelled") -> dict[str, Any]:
        """取消: the citizen gave up (a waiting ticket, or one called to this window)."""
        async def change(conn: asyncpg.Connection, t: asyncpg.Record, to: d.Status, now: datetime,
                         _: d.Policy) -> Outcome:
            t = await self.store.update_ticket(conn, t["id"], status=to.value, finished_at=now)
            return t, [ev.TicketCancelled(ticket_id=t["id"], reason=reason or "cancelled")], ""

        return await self._act(claims, ticket_id, d.TicketAction.CANCEL, change)

    async def _act(self, claims: ClerkClaims, ticket_id: uuid.UUID, action: d.TicketAction, change: Change
                   ) -> dict[str, Any]:
        """One transaction: the clerk's live session, the ticket locked and allowed ``action`` (transition table,
        at this window), ``change``, its events and board notice in the outbox, the ticket as it is now."""
        ctx = self.ctx
        now = ctx.now()
        async with ctx.pool.acquire() as conn, conn.transaction():
            policy, _ = await ctx.config(conn)
            await ctx.clerk_window(conn, claims)
            t = await self.store.ticket(conn, ticket_id, lock=True)
            if t is None:
                raise errors.NotFound(f"票号不存在 / no ticket {ticket_id}")
            status = d.Status(t["status"])
            to = d.transition(status, action)
            d.check_at_this_window(status, t["window_no"], claims.window_no, t["number"])
            t, events, payload = await change(conn, t, to, now, policy)
            await ctx.emit(conn, now, *events, payload=payload)
            return await present(ctx, conn, t, now)
