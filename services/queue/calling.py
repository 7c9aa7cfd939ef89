"""Use case: call-next (叫号), the hot path. Windows that call at the same moment are decided together in one
transaction of four round trips (``CallBatcher``); the choice is the pure ``calling_order.choose_for_windows``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from services.queue import domain as d
from services.queue.calling_order import choose_for_windows
from services.queue.context import QueueContext, check_token_window
from services.queue.presentation import call_notice, present
from shared import errors
from shared.auth import ClerkClaims
from shared.events import queue as ev

Request = tuple[ClerkClaims, int]  # the clerk's claims and the window that calls
Answer = dict[str, Any] | None | Exception  # the ticket called, nobody waiting, or why the window may not call


def _may_call(state: str, number_at_window: str | None, window_no: int) -> d.QueueError | None:
    """Why the window may not call now (``domain.WindowAction.CALL``), or None."""
    try:
        d.window_transition(d.WindowState(state), d.WindowAction.CALL, window_no=window_no,
                            number_at_window=number_at_window)
    except d.QueueError as exc:
        return exc
    return None


class Calling:
    def __init__(self, ctx: QueueContext, max_batch: int = 64) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.batcher = CallBatcher(self.call_batch, max_batch)

    async def call_next(self, claims: ClerkClaims, window_no: int) -> dict[str, Any] | None:
        """The window calls its next ticket (None: nobody it serves is waiting). Windows that call at the same
        moment are decided together in one transaction (``CallBatcher``)."""
        check_token_window(claims, window_no)
        return await self.batcher.call(claims, window_no)

    async def call_batch(self, requests: list[Request]) -> list[Answer]:
        """Call-next for several windows in four round trips: BEGIN, the windows with the locked heads of their
        calling groups, the updates with their events and board notices, COMMIT. The choice in between is the
        pure ``calling_order.choose_for_windows``, in the order the requests came. Each request gets its own
        answer or its own error (a paused window does not fail the others)."""
        ctx = self.ctx
        now = ctx.now()
        out: list[Answer] = [None] * len(requests)
        async with ctx.pool.acquire() as conn:
            policy, _ = await ctx.config(conn)
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
                    elif (refused := _may_call(w["state"], w["current_number"], no)) is not None:
                        out[i] = refused
                    elif no in first_of:  # pressed twice at once: the second press answers like a later one
                        repeats.append((i, first_of[no]))
                    else:
                        first_of[no] = i
                        callers.append(i)
                picks = choose_for_windows(
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
                    events.append(ctx.event(ev.TicketCalled(
                        ticket_id=pick.id, number=head["number"], queue_id=pick.queue_id, window_no=no,
                        staff_id=c.staff_id, call_no=1, waited_s=waited), now))
                    payloads.append(call_notice(pick.id, head["number"], no, 1, now))
                rows = await self.store.mark_called(conn, calls, now=now, events=events,
                                                    board_payloads=payloads) if calls else []
            for t in rows:
                out[by_ticket[t["id"]]] = await present(ctx, conn, t, now)
        for i, first in repeats:
            called = out[first]
            no = requests[i][1]
            out[i] = _may_call(d.WindowState.OPEN, called["number"], no) if isinstance(called, dict) else called
        return out


class CallBatcher:
    """Call-next requests that arrive while a calling transaction runs are decided together in the next one
    (like a database's group commit): one request alone goes straight through; forty windows pressing at
    the same instant cost a few transactions instead of forty, and each still gets its own answer."""

    def __init__(self, decide: Callable[[list[Request]], Awaitable[list[Answer]]], max_batch: int = 64) -> None:
        self.decide = decide
        self.max_batch = max_batch
        self._pending: list[tuple[ClerkClaims, int, asyncio.Future[Answer]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def call(self, claims: ClerkClaims, window_no: int) -> dict[str, Any] | None:
        fut: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((claims, window_no, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        result = await fut
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                results = await self.decide([(c, no) for c, no, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the database failed: every caller of the batch gets the error
                results = [exc] * len(batch)
            except BaseException as exc:  # cancelled while stopping: nobody may wait for ever
                for _, _, fut in batch + self._pending:
                    if not fut.done():
                        fut.set_exception(exc if isinstance(exc, asyncio.CancelledError) else RuntimeError(exc))
                raise
            for (_, _, fut), res in zip(batch, results, strict=True):
                if not fut.done():  # the client may have gone
                    fut.set_result(res)
