"""Use cases of the queue service: load, decide (domain.py), save and record the event in the outbox,
all in one transaction."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from services.queue import domain as d
from services.queue.store import BOARD_CHANNEL, QueueStore
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, issue_token, verify_password
from shared.clock import now as clock_now
from shared.events import queue as ev
from shared.events.base import EventData, make_event
from shared.ids import uuid7
from shared.outbox import add_to_outbox
from shared.settings import Settings

_KIND_TO_ERROR = {"conflict": errors.Conflict, "forbidden": errors.Forbidden}
# a ticket leaving its window for the line again (transfer, forced sign-out); its sort_ts, i.e. its place, is kept
_BACK_IN_LINE: dict[str, Any] = {"status": "transferred", "window_no": None, "staff_id": None, "call_no": 0,
                                 "called_at": None, "started_at": None}


def as_http_error(exc: d.QueueError) -> errors.HallnetError:
    cls = _KIND_TO_ERROR.get(exc.kind, errors.Conflict)
    err = cls(exc.message)
    err.code = type(exc).__name__
    return err


class QueueApp:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, clock: Callable[[], datetime] | None = None,
                 store: QueueStore | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.site = settings.site
        self.tz = settings.tz
        self.store = store or QueueStore()
        self._clock = clock or (lambda: clock_now(self.tz))
        self._config: tuple[float, d.Policy, d.OfficeHours] | None = None
        self._service_avg: dict[uuid.UUID, tuple[float, float]] = {}
        self._queues: dict[uuid.UUID, asyncpg.Record] = {}
        self.calls = CallBatcher(self)

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def service_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    async def config(self, conn: asyncpg.Connection) -> tuple[d.Policy, d.OfficeHours]:
        if self._config is None or time.monotonic() - self._config[0] > 5.0:
            self._config = (time.monotonic(), await self.store.load_policy(conn),
                            await self.store.load_office_hours(conn))
        return self._config[1], self._config[2]

    def _event(self, data: EventData, at: datetime) -> Any:
        return make_event(self.site, data, occurred_at=at)

    async def _emit(self, conn: asyncpg.Connection, at: datetime, *data: EventData, payload: str = "") -> None:
        await add_to_outbox(conn, *(self._event(x, at) for x in data), notify=(BOARD_CHANNEL, payload))

    async def emit_now(self, conn: asyncpg.Connection, *data: EventData) -> None:
        """Events of a change made outside the queue's use cases (the manager's side), in ``conn``'s transaction."""
        await self._emit(conn, self.now(), *data)

    async def _queue(self, conn: asyncpg.Connection, queue_id: uuid.UUID) -> asyncpg.Record:
        q = self._queues.get(queue_id)
        if q is None:
            q = await self.store.queue(conn, queue_id)
            if q is None:
                raise errors.NotFound(f"队列不存在 / no queue {queue_id}")
            self._queues[queue_id] = q
        return q

    async def _avg_service_s(self, conn: asyncpg.Connection, queue_id: uuid.UUID, default_s: float) -> float:
        cached = self._service_avg.get(queue_id)
        if cached and time.monotonic() - cached[0] < 30:
            return cached[1]
        recent = await self.store.recent_service_s(conn, queue_id)
        avg = d.average_service_s(recent, default_s)
        self._service_avg[queue_id] = (time.monotonic(), avg)
        return avg

    # --- presentation -------------------------------------------------------------------------
    async def present(self, conn: asyncpg.Connection, t: asyncpg.Record, now: datetime | None = None
                      ) -> dict[str, Any]:
        now = now or self.now()
        q = await self._queue(conn, t["queue_id"])
        ahead = wait = 0
        if t["status"] in d.WAITING_STATES:
            policy, _ = await self.config(conn)
            ahead = await self.store.ahead(conn, t, now, policy)
            windows = await self.store.windows_open_for(conn, t["queue_id"])
            wait = d.estimate_wait_s(ahead, windows, await self._avg_service_s(conn, q["id"], q["default_service_s"]))
        return {
            "id": str(t["id"]), "number": t["number"], "queue_id": str(t["queue_id"]), "queue_prefix": q["prefix"],
            "queue_name": q["name"], "matter_id": t["matter_id"], "priority": t["priority"],
            "channel": t["channel"], "status": t["status"], "ahead": ahead, "estimated_wait_s": wait,
            "window_no": t["window_no"] if t["window_no"] is not None else t["target_window_no"],
            "call_no": t["call_no"], "issued_at": _iso(t["issued_at"]), "called_at": _iso(t["called_at"]),
        }

    # --- tickets ------------------------------------------------------------------------------
    async def issue(self, *, matter_id: str | None, queue_id: uuid.UUID | None, priority: ev.Priority, channel: str,
                    appointment_at: datetime | None, staff: ClerkClaims | None) -> dict[str, Any]:
        now = self.now()
        if priority == d.Priority.GREEN and staff is None:
            raise errors.Forbidden("绿色通道需工作人员确认 / the green channel is confirmed by staff (clerk token)")
        if priority == d.Priority.APPOINTMENT and appointment_at is None:
            raise errors.Unprocessable("预约取号需要预约时间 / appointment_at is required for an appointment")
        if priority != d.Priority.APPOINTMENT:
            appointment_at = None
        async with self.pool.acquire() as conn, conn.transaction():
            policy, hours = await self.config(conn)
            if self.settings.enforce_office_hours:
                try:
                    hours.check_issue(now)
                except d.IssuingClosed as exc:
                    raise as_http_error(exc) from exc
            if matter_id is not None:
                route = await self.store.route(conn, matter_id)
                if route is None:
                    raise errors.NotFound(f"事项不存在或未开通 / matter {matter_id} is not served here")
                if queue_id is not None and queue_id != route["queue_id"]:
                    raise errors.Unprocessable("事项与队列不一致 / matter_id and queue_id disagree")
                queue_id = route["queue_id"]
            if queue_id is None:
                raise errors.Unprocessable("需要 matter_id 或 queue_id / give matter_id or queue_id")
            q = await self._queue(conn, queue_id)
            day = self.service_day(now)
            seq = await self.store.next_seq(conn, queue_id, day)
            t = await self.store.insert_ticket(conn, {
                "id": uuid7(), "service_day": day, "queue_id": queue_id, "seq": seq,
                "number": d.format_number(q["prefix"], seq), "matter_id": matter_id, "priority": priority,
                "channel": channel, "issued_at": now, "appointment_at": appointment_at,
            })
            view = await self.present(conn, t, now)
            await self._emit(conn, now, ev.TicketIssued(
                ticket_id=t["id"], number=t["number"], queue_id=queue_id, matter_id=matter_id,
                priority=priority, channel=channel, ahead=view["ahead"], estimated_wait_s=view["estimated_wait_s"]))
        return view

    async def get_ticket(self, ticket_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            t = await self.store.ticket(conn, ticket_id)
            if t is None:
                raise errors.NotFound(f"票号不存在 / no ticket {ticket_id}")
            return await self.present(conn, t)

    # --- windows ------------------------------------------------------------------------------
    async def sign_in(self, window_no: int, staff_id: str, password: str) -> dict[str, Any]:
        now = self.now()
        async with self.pool.acquire() as conn:
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
                elsewhere = await conn.fetchval("SELECT no FROM windows WHERE staff_id = $1 AND no <> $2",
                                                staff_id, window_no)
                if elsewhere is not None:
                    raise errors.Conflict(f"{staff_id} 已在 {elsewhere} 号窗口登录 / signed in at window {elsewhere}")
                session = uuid7()
                row = await self.store.set_window(conn, window_no, state="open", staff_id=staff_id,
                                                  session_id=session, reason=None, now=now)
                events: list[EventData] = [ev.WindowSignedIn(window_no=window_no, staff_id=staff_id)]
                if w["session_id"] is not None:  # signing in again (another device): the old token stops here
                    events.append(ev.SessionEnded(session_id=w["session_id"], staff_id=staff_id,
                                                  role=role or "manager", reason="replaced"))
                await self._emit(conn, now, *events)
        token = issue_token(self.settings.token_secret, ClerkClaims(
            site=self.site, staff_id=staff_id, window_no=window_no, session_id=session,
            expires_at=int(time.time()) + TOKEN_TTL_S, role=role or "manager"))
        return {"token": token, "window": _window_view(row), "role": role, "expires_in_s": TOKEN_TTL_S}

    async def _session(self, conn: asyncpg.Connection, claims: ClerkClaims) -> asyncpg.Record:
        w = await self.store.window(conn, claims.window_no, lock=True)
        if w is None or w["session_id"] != claims.session_id or w["staff_id"] != claims.staff_id:
            raise errors.Unauthorized("登录已失效，请重新登录窗口 / this window session has ended: sign in again")
        return w

    def _check_window(self, claims: ClerkClaims, window_no: int) -> None:
        if claims.window_no != window_no:
            raise errors.Forbidden(f"令牌属于 {claims.window_no} 号窗口 / the token is bound to window "
                                   f"{claims.window_no}")

    async def sign_out(self, claims: ClerkClaims, window_no: int) -> dict[str, Any]:
        self._check_window(claims, window_no)
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            await self._session(conn, claims)
            current = await self.store.current_at_window(conn, window_no)
            if current is not None:
                raise errors.Conflict(f"请先办结或处理当前票号 {current['number']} / finish {current['number']} first")
            row = await self.store.set_window(conn, window_no, state="closed", staff_id=None, session_id=None,
                                              reason=None, now=now)
            await self._emit(conn, now, ev.WindowSignedOut(window_no=window_no, staff_id=claims.staff_id),
                             ev.SessionEnded(session_id=claims.session_id, staff_id=claims.staff_id, role=claims.role,
                                             reason="signed_out"))
        return _window_view(row)

    async def end_window_session(self, manager: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        """强制签退: a duty manager ends a window's session (its clerk left without signing out, so nobody else,
        not even the B role, could sign in there). A ticket at the window goes back to the line at its own place
        (as a transfer to its own queue) and is called next by whoever serves that queue."""
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            w = await self.store.window(conn, window_no, lock=True)
            if w is None:
                raise errors.NotFound(f"窗口不存在 / no window {window_no}")
            if w["session_id"] is None:
                raise errors.Conflict(f"{window_no}号窗口无人登录 / nobody is signed in at window {window_no}")
            events: list[EventData] = []
            current = await self.store.current_at_window(conn, window_no)
            if current is not None:
                t = await self.store.update_ticket(conn, current["id"], **_BACK_IN_LINE,
                                                   target_window_no=None)  # sort_ts kept: the citizen's place
                events.append(ev.TicketTransferred(ticket_id=t["id"], from_window_no=window_no,
                                                   to_queue_id=t["queue_id"]))
            role = await self.store.role(conn, window_no, w["staff_id"])
            row = await self.store.set_window(conn, window_no, state="closed", staff_id=None, session_id=None,
                                              reason=reason or f"值班长 {manager.staff_id} 强制签退", now=now)
            events += [ev.WindowSignedOut(window_no=window_no, staff_id=w["staff_id"]),
                       ev.SessionEnded(session_id=w["session_id"], staff_id=w["staff_id"], role=role or "manager",
                                       reason="ended_by_manager")]
            await self._emit(conn, now, *events)
        return {"window": _window_view(row), "staff_id": w["staff_id"],
                "returned_to_line": current["number"] if current is not None else None}

    async def pause(self, claims: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        self._check_window(claims, window_no)
        if not reason:
            raise errors.Unprocessable("暂停需要说明原因 / a pause needs a reason")
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            w = await self._session(conn, claims)
            if w["state"] != "open":
                raise errors.Conflict("窗口已暂停 / the window is already paused")
            row = await self.store.set_window(conn, window_no, state="paused", staff_id=claims.staff_id,
                                              session_id=claims.session_id, reason=reason, now=now)
            await self._emit(conn, now, ev.WindowPaused(window_no=window_no, staff_id=claims.staff_id, reason=reason))
        return _window_view(row)

    async def clerk_today(self, claims: ClerkClaims, window_no: int) -> dict[str, Any]:
        """The signed-in clerk's own numbers today (本人今日): called, served, no-shows, average wait and service."""
        self._check_window(claims, window_no)
        day = self.service_day(self.now())
        async with self.pool.acquire() as conn:
            row = await self.store.clerk_today(conn, day, claims.staff_id)
        return {"staff_id": claims.staff_id, "day": day.isoformat(), "called": row["called"], "served": row["served"],
                "no_shows": row["no_shows"],
                "avg_wait_s": round(row["avg_wait_s"]) if row["avg_wait_s"] is not None else None,
                "avg_service_s": round(row["avg_service_s"]) if row["avg_service_s"] is not None else None}

    async def resume(self, claims: ClerkClaims, window_no: int, reason: str | None) -> dict[str, Any]:
        self._check_window(claims, window_no)
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            w = await self._session(conn, claims)
            if w["state"] != "paused":
                raise errors.Conflict("窗口未暂停 / the window is not paused")
            row = await self.store.set_window(conn, window_no, state="open", staff_id=claims.staff_id,
                                              session_id=claims.session_id, reason=None, now=now)
            await self._emit(conn, now, ev.WindowResumed(window_no=window_no, staff_id=claims.staff_id,
                                                         reason=reason))
        return _window_view(row)

    async def call_next(self, claims: ClerkClaims, window_no: int) -> dict[str, Any] | None:
        """The window calls its next ticket (None: nobody it serves is waiting). Windows that call at the same
        moment are decided together in one transaction (``CallBatcher``)."""
        self._check_window(claims, window_no)
        return await self.calls.call(claims, window_no)

    async def call_batch(self, requests: list[tuple[ClerkClaims, int]]) -> list[dict[str, Any] | None | Exception]:
        """Call-next for several windows in four round trips: BEGIN, the windows with the locked heads of their
        calling groups, the updates with their events and board notices, COMMIT. The choice in between is the
        pure ``domain.choose_for_windows``, in the order the requests came. Each request gets its own answer
        or its own error (a paused window does not fail the others)."""
        now = self.now()
        out: list[dict[str, Any] | None | Exception] = [None] * len(requests)
        async with self.pool.acquire() as conn:
            policy, _ = await self.config(conn)
            async with conn.transaction():
                windows, lines, heads = await self.store.call_batch_context(
                    conn, [(no, c.session_id, c.staff_id) for c, no in requests], now, policy)
                callers: list[int] = []  # indexes of the requests that may call
                first_of: dict[int, int] = {}  # window -> its first request in this batch
                repeats: list[tuple[int, int]] = []  # (request, first request of the same window)
                for i, (c, no) in enumerate(requests):
                    w = windows.get(no)
                    if w is None or w["session_id"] != c.session_id or w["staff_id"] != c.staff_id:
                        out[i] = errors.Unauthorized("登录已失效，请重新登录窗口 / this window session has ended: "
                                                     "sign in again")
                    elif w["state"] != "open":
                        out[i] = errors.Conflict("窗口暂停中，请先恢复 / the window is paused: resume first")
                    elif w["current_number"] is not None:
                        out[i] = _finish_first(w["current_number"])
                    elif no in first_of:  # pressed twice at once: the second press answers like a later one
                        repeats.append((i, first_of[no]))
                    else:
                        first_of[no] = i
                        callers.append(i)
                picks = d.choose_for_windows(
                    lines, [(requests[i][1], list(windows[requests[i][1]]["queue_ids"])) for i in callers],
                    now=now, policy=policy)
                calls, events, payloads = [], [], []
                by_ticket: dict[uuid.UUID, int] = {}
                for i, pick in zip(callers, picks, strict=True):
                    if pick is None:
                        continue
                    c, no = requests[i]
                    head = heads[pick.id]
                    by_ticket[pick.id] = i
                    calls.append((pick.id, no, c.staff_id))
                    waited = max(0, int((now - head["issued_at"]).total_seconds()))
                    events.append(self._event(ev.TicketCalled(
                        ticket_id=pick.id, number=head["number"], queue_id=pick.queue_id, window_no=no,
                        staff_id=c.staff_id, call_no=1, waited_s=waited), now))
                    payloads.append(call_notice(pick.id, head["number"], no, 1, now))
                rows = await self.store.mark_called(conn, calls, now=now, events=events,
                                                    board_payloads=payloads) if calls else []
            for t in rows:
                out[by_ticket[t["id"]]] = await self.present(conn, t, now)
        for i, first in repeats:
            called = out[first]
            out[i] = _finish_first(called["number"]) if isinstance(called, dict) else called
        return out

    async def _ticket_at_window(self, conn: asyncpg.Connection, claims: ClerkClaims, ticket_id: uuid.UUID,
                                allowed: frozenset[d.Status], action: str) -> asyncpg.Record:
        await self._session(conn, claims)
        t = await self.store.ticket(conn, ticket_id, lock=True)
        if t is None:
            raise errors.NotFound(f"票号不存在 / no ticket {ticket_id}")
        try:
            d.require_state(d.Status(t["status"]), allowed, action)
        except d.QueueError as exc:
            raise as_http_error(exc) from exc
        if d.Status(t["status"]) in d.AT_WINDOW_STATES and t["window_no"] != claims.window_no:
            raise errors.Forbidden(f"{t['number']} 不在本窗口办理 / ticket is at window {t['window_no']}")
        return t

    async def act(self, claims: ClerkClaims, ticket_id: uuid.UUID, action: str, **kw: Any) -> dict[str, Any]:
        """recall | start | complete | no_show | transfer | cancel | requeue."""
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            policy, _ = await self.config(conn)
            try:
                t, events, payload = await getattr(self, f"_{action}")(conn, claims, ticket_id, now, policy, **kw)
            except d.QueueError as exc:
                raise as_http_error(exc) from exc
            await self._emit(conn, now, *events, payload=payload)
            return await self.present(conn, t, now)

    async def _recall(self, conn, claims, ticket_id, now, policy):  # type: ignore[no-untyped-def]
        t = await self._ticket_at_window(conn, claims, ticket_id, frozenset({d.Status.CALLED}), "重呼")
        d.check_recall(t["call_no"], policy)
        t = await self.store.update_ticket(conn, t["id"], call_no=t["call_no"] + 1, called_at=now)
        waited = max(0, int((t["first_called_at"] - t["issued_at"]).total_seconds()))
        return t, [ev.TicketCalled(ticket_id=t["id"], number=t["number"], queue_id=t["queue_id"],
                                   window_no=claims.window_no, staff_id=claims.staff_id, call_no=t["call_no"],
                                   waited_s=waited)], call_payload(t)

    async def _start(self, conn, claims, ticket_id, now, policy):  # type: ignore[no-untyped-def]
        t = await self._ticket_at_window(conn, claims, ticket_id, frozenset({d.Status.CALLED}), "开始办理")
        t = await self.store.update_ticket(conn, t["id"], status="serving", started_at=now)
        return t, [ev.TicketStarted(ticket_id=t["id"], window_no=claims.window_no, staff_id=claims.staff_id)], ""

    async def _complete(self, conn, claims, ticket_id, now, policy):  # type: ignore[no-untyped-def]
        t = await self._ticket_at_window(conn, claims, ticket_id, d.AT_WINDOW_STATES, "办结")
        t = await self.store.update_ticket(conn, t["id"], status="done", finished_at=now,
                                           started_at=t["started_at"] or t["called_at"])
        waited = int((t["first_called_at"] - t["issued_at"]).total_seconds())
        served = int((now - t["started_at"]).total_seconds())
        self._service_avg.pop(t["queue_id"], None)
        return t, [ev.TicketCompleted(ticket_id=t["id"], number=t["number"], queue_id=t["queue_id"],
                                      matter_id=t["matter_id"], window_no=claims.window_no, staff_id=claims.staff_id,
                                      waited_s=max(0, waited), served_s=max(0, served))], ""

    async def _no_show(self, conn, claims, ticket_id, now, policy):  # type: ignore[no-untyped-def]
        t = await self._ticket_at_window(conn, claims, ticket_id, frozenset({d.Status.CALLED}), "标记过号")
        d.check_no_show(t["call_no"], policy)
        t = await self.store.update_ticket(conn, t["id"], status="no_show", finished_at=now)
        return t, [ev.TicketNoShow(ticket_id=t["id"], window_no=claims.window_no, calls=t["call_no"])], ""

    async def _requeue(self, conn, claims, ticket_id, now, policy):  # type: ignore[no-untyped-def]
        t = await self._ticket_at_window(conn, claims, ticket_id, frozenset({d.Status.NO_SHOW}), "重新排队")
        if t["service_day"] != self.service_day(now):
            raise errors.Conflict("只能重排当天的票号 / only today's tickets can be re-queued")
        line = await self.store.waiting_sort_ts(conn, t["queue_id"], policy.requeue_positions + 1)
        sort_ts = d.requeue_sort_ts(line, now, policy.requeue_positions)
        t = await self.store.update_ticket(conn, t["id"], status="waiting", sort_ts=sort_ts, window_no=None,
                                           staff_id=None, call_no=0, called_at=None, finished_at=None)
        return t, [ev.TicketRequeued(ticket_id=t["id"], queue_id=t["queue_id"], window_no=claims.window_no)], ""

    async def _transfer(self, conn, claims, ticket_id, now, policy, to_queue_id=None, to_window_no=None):  # type: ignore[no-untyped-def]
        if (to_queue_id is None) == (to_window_no is None):
            raise errors.Unprocessable("转移需要 to_queue_id 或 to_window_no 之一 / give to_queue_id or to_window_no")
        t = await self._ticket_at_window(conn, claims, ticket_id, d.AT_WINDOW_STATES, "转移")
        fields: dict[str, Any] = dict(_BACK_IN_LINE)
        if to_queue_id is not None:
            await self._queue(conn, to_queue_id)
            fields.update(queue_id=to_queue_id, target_window_no=None)
        else:
            if to_window_no == claims.window_no:
                raise errors.Unprocessable("不能转给本窗口 / cannot transfer to the same window")
            if await self.store.window(conn, to_window_no) is None:
                raise errors.NotFound(f"窗口不存在 / no window {to_window_no}")
            fields.update(target_window_no=to_window_no)
        t = await self.store.update_ticket(conn, t["id"], **fields)  # sort_ts kept: the citizen keeps the place
        return t, [ev.TicketTransferred(ticket_id=t["id"], from_window_no=claims.window_no,
                                        to_queue_id=to_queue_id, to_window_no=to_window_no)], ""

    async def _cancel(self, conn, claims, ticket_id, now, policy, reason="cancelled"):  # type: ignore[no-untyped-def]
        allowed = frozenset({d.Status.WAITING, d.Status.TRANSFERRED, d.Status.CALLED})
        t = await self._ticket_at_window(conn, claims, ticket_id, allowed, "取消")
        t = await self.store.update_ticket(conn, t["id"], status="cancelled", finished_at=now)
        return t, [ev.TicketCancelled(ticket_id=t["id"], reason=reason or "cancelled")], ""


def _finish_first(number: str) -> errors.HallnetError:
    return errors.Conflict(f"请先办结、转移或标记过号当前票号 {number} / finish {number} first")


class CallBatcher:
    """Call-next requests that arrive while a calling transaction runs are decided together in the next one
    (like a database's group commit): one request alone goes straight through; forty windows pressing at
    the same instant cost a few transactions instead of forty, and each still gets its own answer."""

    def __init__(self, app: QueueApp, max_batch: int = 64) -> None:
        self.app = app
        self.max_batch = max_batch
        self._pending: list[tuple[ClerkClaims, int, asyncio.Future[Any]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def call(self, claims: ClerkClaims, window_no: int) -> dict[str, Any] | None:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((claims, window_no, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        result = await fut
        if isinstance(result, Exception):
            raise result
        return result  # type: ignore[no-any-return]

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                results: list[Any] = await self.app.call_batch([(c, no) for c, no, _ in batch])
            except Exception as exc:  # noqa: BLE001  (the database failed: every caller of the batch gets it)
                results = [exc] * len(batch)
            except BaseException as exc:  # cancelled while stopping: nobody may wait for ever
                for _, _, fut in batch + self._pending:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, asyncio.CancelledError) else RuntimeError(exc))
                raise
            for (_, _, fut), res in zip(batch, results, strict=True):
                if not fut.done():  # the client may have gone
                    fut.set_result(res)


def call_notice(ticket_id: uuid.UUID, number: str, window_no: int, call_no: int, called_at: datetime) -> str:
    """The board's ``call`` event as of this very call (the voice queue must not read a later state)."""
    return "call:" + json.dumps({"ticket_id": str(ticket_id), "number": number, "window_no": window_no,
                                 "call_no": call_no, "called_at": _iso(called_at.astimezone(UTC))},
                                ensure_ascii=False)


def call_payload(t: asyncpg.Record) -> str:
    return call_notice(t["id"], t["number"], t["window_no"], t["call_no"], t["called_at"])


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="milliseconds") if dt else None


def _window_view(w: asyncpg.Record) -> dict[str, Any]:
    return {"no": w["no"], "name": w["name"], "hall": w["hall"], "state": w["state"], "staff_id": w["staff_id"],
            "reason": w["reason"], "state_since": _iso(w["state_since"])}


def since(dt: datetime | None, now: datetime) -> int:
    return max(0, int((now - dt).total_seconds())) if dt else 0
