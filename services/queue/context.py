"""What every use case of the queue shares: the pool, the stores, the clock and service day, the site's policy and
office hours (cached a few seconds), the queue rows (cached), recent service times, and the outbox."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Literal

import asyncpg

from services.queue import domain as d
from services.queue.board_store import BoardStore
from services.queue.hours import OfficeHours
from services.queue.site_store import SiteStore
from services.queue.store import BOARD_CHANNEL, QueueStore
from shared import errors
from shared.auth import ClerkClaims
from shared.calendar_sync import SiteLayers
from shared.clock import now as clock_now
from shared.events.base import Envelope, EventData, make_event
from shared.events.queue import SessionEnded
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
