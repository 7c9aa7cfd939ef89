"""Use cases of a window's session (签到, 暂停, 恢复, 签退, 强制签退) and the clerk's own figures of the day. Window
states follow ``domain.WINDOW_RULES``; every change and its events go in one transaction."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.queue import domain as d
from services.queue.context import QueueContext, check_token_window
from services.queue.presentation import window_view
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, issue_token, verify_password
from shared.events import queue as ev
from shared.events.base import EventData
from shared.ids import uuid7


class WindowCases:
    def __init__(self, ctx: QueueContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    async def sign_in(self, window_no: int, staff_id: str, password: str) -> dict[str, Any]:
        """签到: the window's A or B clerk (or a manager) opens it and gets a token bound to it. Signing in again
        (another device) ends the earlier session."""
        ctx = self.ctx
        now = ctx.now()
        async with ctx.pool.acquire() as conn:
            staff = await self.store.staff(conn, staff_id)
            ok = staff is not None and await asyncio.to_thread(verify_password, password, staff["password_hash"])
            if not ok or staff is None:
                raise errors.Unauthorized("工号或密码错误 / wrong staff id or password")
            async with conn.transaction():
                w = await self.store.window(conn, window_no, lock=True)
                if w is None:
                    raise errors.NotFound(f"窗口不存在 / no window {window_no}")
                role = await self.store.role(conn, window_no, staff_id)
                if role is None and not staff["is_manager"]:
                    raise errors.Forbidden(f"{staff_id} 不是 {window_no} 号窗口的A/B角 / not assigned to this window")
                if w["staff_id"] not in (None, staff_id):
                    raise errors.Conflict(f"{window_no}号窗口已由 {w['staff_id']} 登录 / window in use")
                elsewhere = await self.store.window_of(conn, staff_id, besides=window_no)
                if elsewhere is not None:
                    raise errors.Conflict(f"{staff_id} 已在 {elsewhere} 号窗口登录 / signed in at window {elsewhere}")
                state = d.window_transition(d.WindowState(w["state"]), d.WindowAction.SIGN_IN, window_no=window_no)
                session = uuid7()
                row = await self.store.set_window(conn, window_no, state=state, staff_id=staff_id,
                                                  session_id=session, reason=None, now=now)
                events: list[EventData] = [ev.WindowSignedIn(window_no=window_no, staff_id=staff_id)]
                if w["session_id"] is not None:  # signing in again (another device): the old token stops here
                    events.append(ev.SessionEnded(session_id=w["session_id"], staff_id=staff_id,
                                                  role=role or "manager", reason="replaced"))
                await ctx.emit(conn, now, *events)
        token = issue_token(ctx.settings.token_secret, ClerkClaims(
            site=ctx.site, staff_id=staff_id, window_no=window_no, session_id=session,
            expires_at=int(time.time()) + TOKEN_TTL_S, role=role or "manager"))
        return {"token": token, "window": window_view(row), "role": role, "expires_in_s": TOKEN_TTL_S}

    async def sign_out(self, claims: ClerkClaims, window_no: int, confirm: bool = False) -> dict[str, Any]:
        """签退: refused while a ticket is at the window; warned (409 ``StillWaiting`` with ``detail.waiting``)
        while people issued before closing still wait for the window's queues, unless ``confirm``; the event then
        carries how many (``waiting_left``). The token is dead afterwards, at every service."""
        check_token_window(claims, window_no)
        ctx = self.ctx
        now = ctx.now()
        async with ctx.pool.acquire() as conn, conn.transaction():
            w = await ctx.clerk_window(conn, claims)
            current = await self.store.current_at_window(conn, window_no)
            state = d.window_transition(d.WindowState(w["state"]), d.WindowAction.SIGN_OUT, window_no=window_no,
                                        number_at_window=current["number"] if current is not None else None)
            _, hours = await ctx.config(conn)
            waiting = await ctx.board_store.waiting_for_window(conn, window_no, ctx.service_day(now),
                                                               d.closing_at(now, hours.sessions[-1][1]))
            d.check_sign_out(waiting, confirm)
            row = await self.store.set_window(conn, window_no, state=state, staff_id=None, session_id=None,
                                              reason=None, now=now)
            await self.store.note_left_waiting(conn, window_no, waiting, claims.staff_id, now)
            await ctx.emit(conn, now, ev.WindowSignedOut(window_no=window_no, staff_id=claims.staff_id,
                                                         waiting_left=waiting),
                           ev.SessionEnded(session_id=claims.session_id, staff_id=claims.staff_id, role=claims.role,
                                           reason="signed_out"))
        return {**window_view(row), "waiting_left": waiting}

    async def end_session(self, manager: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        """强制签退: a duty manager ends a window's session (its clerk left without signing out, so nobody else,
        not even the B role, could sign in there). A ticket at the window goes back to the line at its own place
        (as a transfer to its own queue) and is called next by whoever serves that queue."""
        ctx = self.ctx
        now = ctx.now()
        async with ctx.pool.acquire() as conn, conn.transaction():
            w = await self.store.window(conn, window_no, lock=True)
            if w is None:
                raise errors.NotFound(f"窗口不存在 / no window {window_no}")
            state = d.window_transition(d.WindowState(w["state"]), d.WindowAction.END_SESSION, window_no=window_no)
            events: list[EventData] = []
            current = await self.store.current_at_window(conn, window_no)
            if current is not None:
                to = d.transition(d.Status(current["status"]), d.TicketAction.BACK_IN_LINE)
                t = await self.store.back_in_line(conn, current["id"], to)
                events.append(ev.TicketTransferred(ticket_id=t["id"], from_window_no=window_no,
                                                   to_queue_id=t["queue_id"]))
            role = await self.store.role(conn, window_no, w["staff_id"])
            row = await self.store.set_window(conn, window_no, state=state, staff_id=None, session_id=None,
                                              reason=reason or f"值班长 {manager.staff_id} 强制签退", now=now)
            events += [ev.WindowSignedOut(window_no=window_no, staff_id=w["staff_id"]),
                       ev.SessionEnded(session_id=w["session_id"], staff_id=w["staff_id"], role=role or "manager",
                                       reason="ended_by_manager")]
            await ctx.emit(conn, now, *events)
        return {"window": window_view(row), "staff_id": w["staff_id"],
                "returned_to_line": current["number"] if current is not None else None}

    async def pause(self, claims: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        """暂停, with a reason: an open window stops calling."""
        if not reason:
            raise errors.Unprocessable("暂停需要说明原因 / a pause needs a reason")
        return await self._pause_or_resume(claims, window_no, d.WindowAction.PAUSE, reason)

    async def resume(self, claims: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        """恢复: a paused window calls again."""
        return await self._pause_or_resume(claims, window_no, d.WindowAction.RESUME, reason)

    async def _pause_or_resume(self, claims: ClerkClaims, window_no: int, action: d.WindowAction,
                               reason: str | None) -> dict[str, Any]:
        check_token_window(claims, window_no)
        ctx = self.ctx
        now = ctx.now()
        pausing = action == d.WindowAction.PAUSE
        async with ctx.pool.acquire() as conn, conn.transaction():
            w = await ctx.clerk_window(conn, claims)
            state = d.window_transition(d.WindowState(w["state"]), action, window_no=window_no)
            row = await self.store.set_window(conn, window_no, state=state, staff_id=claims.staff_id,
                                              session_id=claims.session_id, reason=reason if pausing else None,
                                              now=now)
            event = ev.WindowPaused if pausing else ev.WindowResumed
            await ctx.emit(conn, now, event(window_no=window_no, staff_id=claims.staff_id, reason=reason))
        return window_view(row)

    async def clerk_today(self, claims: ClerkClaims, window_no: int) -> dict[str, Any]:
        """The signed-in clerk's own numbers today (本人今日): called, served, no-shows, average wait and service."""
        check_token_window(claims, window_no)
        day = self.ctx.service_day(self.ctx.now())
        async with self.ctx.pool.acquire() as conn:
            row = await self.store.clerk_today(conn, day, claims.staff_id)
        return {"staff_id": claims.staff_id, "day": day.isoformat(), "called": row["called"], "served": row["served"],
                "no_shows": row["no_shows"],
                "avg_wait_s": round(row["avg_wait_s"]) if row["avg_wait_s"] is not None else None,
                "avg_service_s": round(row["avg_service_s"]) if row["avg_service_s"] is not None else None}
