"""What every use case of the queue shares: the pool, the stores, the clock and service day, the site's policy and
office hours (cached a few seconds), the queue rows (cached), recent service times, and the outbox."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

import asyncpg

from services.queue import domain as d
from services.queue.board_store import BoardStore
from services.queue.hours import OfficeHours
from services.queue.site_store import SiteStore
from services.queue.store import BOARD_CHANNEL, QueueStore
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, issue_token, verify_password
from shared.calendar_sync import SiteLayers
from shared.clock import now as clock_now
from shared.events.base import Envelope, EventData, make_event
from shared.events.queue import SessionEnded
from shared.ids import uuid7
from shared.outbox import add_to_outbox
from shared.settings import Settings
from shared.workdays import WorkCalendar

EndReason = Literal["signed_out", "deactivated", "ended_by_manager"]  # why a session bound to no window ended


class QueueContext:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, clock: Callable[[], datetime] | None = None,
                 store: QueueStore | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.site = settings.site
        self.tz = settings.tz
        self.store = store or QueueStore()
        self.board_store = BoardStore()
        self.site_store = SiteStore()
        self._clock = clock or (lambda: clock_now(self.tz))
        self._config: tuple[float, d.Policy, OfficeHours] | None = None
        self._service_avg: dict[uuid.UUID, tuple[float, float]] = {}
        self._queues: dict[uuid.UUID, asyncpg.Record] = {}
        self.calendar = WorkCalendar()  # the site's (statutory, 调休, overrides), kept current by use_calendar

    def use_calendar(self, layers: SiteLayers) -> None:
        """The site's calendar layers as the matters service publishes them (``shared/calendar_sync.py``)."""
        self.calendar = layers.calendar()

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def service_day(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    async def config(self, conn: asyncpg.Connection) -> tuple[d.Policy, OfficeHours]:
        if self._config is None or time.monotonic() - self._config[0] > 5.0:
            self._config = (time.monotonic(), await self.store.load_policy(conn),
                            await self.store.load_office_hours(conn))
        return self._config[1], self._config[2]

    async def queue(self, conn: asyncpg.Connection, queue_id: uuid.UUID) -> asyncpg.Record:
        """The active queue ``queue_id`` (NotFound otherwise), cached: queues change only with the site file."""
        q = self._queues.get(queue_id)
        if q is None:
            q = await self.store.queue(conn, queue_id)
            if q is None:
                raise errors.NotFound(f"队列不存在 / no queue {queue_id}")
            self._queues[queue_id] = q
        return q

    async def avg_service_s(self, conn: asyncpg.Connection, queue_id: uuid.UUID, default_s: float) -> float:
        """The queue's recent average service time (``domain.average_service_s``), cached 30 s."""
        cached = self._service_avg.get(queue_id)
        if cached and time.monotonic() - cached[0] < 30:
            return cached[1]
        recent = await self.store.recent_service_s(conn, queue_id)
        avg = d.average_service_s(recent, default_s)
        self._service_avg[queue_id] = (time.monotonic(), avg)
        return avg

    def served(self, queue_id: uuid.UUID) -> None:
        """A service of the queue ended: its average is computed afresh next time."""
        self._service_avg.pop(queue_id, None)

    def event(self, data: EventData, at: datetime) -> Envelope:
        return make_event(self.site, data, occurred_at=at)

    async def emit(self, conn: asyncpg.Connection, at: datetime, *data: EventData, payload: str = "") -> None:
        """Events into the outbox in ``conn``'s transaction, and a board notice (``payload``: a call, or nothing)."""
        await add_to_outbox(conn, *(self.event(x, at) for x in data), notify=(BOARD_CHANNEL, payload))

    async def end_staff_sessions(self, conn: asyncpg.Connection, staff_id: str, reason: EndReason, *,
                                 session_id: uuid.UUID | None = None, role: str | None = None) -> int:
        """End sessions bound to no window (a duty manager's, a back-office clerk's: one, one role's, or all) in
        ``conn``'s transaction, and tell every service of the site (``queue.session.ended``)."""
        ended = await self.site_store.end_staff_sessions(conn, staff_id, reason, session_id=session_id, role=role)
        if ended:
            await self.emit(conn, self.now(), *(SessionEnded(session_id=sid, staff_id=staff_id, role=r, reason=reason)
                                                for sid, r in ended))
        return len(ended)

    async def checked_staff(self, staff_id: str, password: str) -> asyncpg.Record:
        """The staff member whose password this is (401 otherwise; an unknown id is answered alike)."""
        async with self.pool.acquire() as conn:
            staff = await self.store.staff(conn, staff_id)
        ok = staff is not None and await asyncio.to_thread(verify_password, password, staff["password_hash"])
        if not ok or staff is None:
            raise errors.Unauthorized("工号或密码错误 / wrong staff id or password")
        return staff

    async def open_staff_session(self, staff_id: str, role: str, department: str | None = None) -> str:
        """A session bound to no window (a duty manager's, a back-office clerk's) and its token."""
        session, expires = uuid7(), int(time.time()) + TOKEN_TTL_S
        async with self.pool.acquire() as conn:
            await self.site_store.start_staff_session(conn, session, staff_id, role, expires, department)
        return issue_token(self.settings.token_secret, ClerkClaims(
            site=self.site, staff_id=staff_id, window_no=0, session_id=session, expires_at=expires, role=role,
            department=department))

    async def live_staff_session(self, claims: ClerkClaims, role: str, wrong_role: str) -> ClerkClaims:
        """``claims`` of ``role`` whose session is live (403 ``wrong_role`` for another role, 401 once ended)."""
        if claims.role != role:
            raise errors.Forbidden(wrong_role)
        async with self.pool.acquire() as conn:
            live = await self.site_store.staff_session_live(conn, claims.session_id, claims.staff_id, role)
        if not live:
            raise errors.Unauthorized("登录已失效，请重新登录 / this session has ended: sign in again")
        return claims

    async def end_own_session(self, claims: ClerkClaims) -> dict[str, Any]:
        """签退 of a session bound to no window: its token is refused by every service of the site from now on."""
        async with self.pool.acquire() as conn, conn.transaction():
            ended = await self.end_staff_sessions(conn, claims.staff_id, "signed_out", session_id=claims.session_id)
        return {"staff_id": claims.staff_id, "session_ended": bool(ended)}

    async def clerk_window(self, conn: asyncpg.Connection, claims: ClerkClaims) -> asyncpg.Record:
        """The clerk's window, locked, while the token's session is the window's (Unauthorized once it has ended)."""
        w = await self.store.window(conn, claims.window_no, lock=True)
        if w is None or w["session_id"] != claims.session_id or w["staff_id"] != claims.staff_id:
            raise errors.Unauthorized("登录已失效，请重新登录窗口 / this window session has ended: sign in again")
        return w


def check_token_window(claims: ClerkClaims, window_no: int) -> None:
    """A clerk's token acts for the window it was issued at only."""
    if claims.window_no != window_no:
        raise errors.Forbidden(f"令牌属于 {claims.window_no} 号窗口 / the token is bound to window {claims.window_no}")
