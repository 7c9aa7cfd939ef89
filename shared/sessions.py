"""Sessions ended at this site (签退, a deactivated staff member): every service refuses their tokens.

A token is signed, not looked up, so without this a clerk's or duty manager's token would keep working in
every service until it expires (12 h) after a sign-out. The queue service, which owns sign-in, emits
``queue.session.ended``; every service follows those events of its own site with an ordered consumer that
starts one token lifetime back, so a restarted service knows every ended session whose token could still
be presented."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared import deadletter
from shared.auth import TOKEN_TTL_S
from shared.bus import Bus
from shared.events.base import subject_for
from shared.events.queue import SessionEnded
from shared.logging import get_logger

log = get_logger("sessions")


class EndedSessions:
    """The ids of sessions ended within the last token lifetime, kept in memory."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._until: dict[uuid.UUID, float] = {}  # session id -> when its last token has expired anyway

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._until

    def __len__(self) -> int:
        return len(self._until)

    def add(self, session_id: uuid.UUID, ended_at: float | None = None) -> None:
        self._until[session_id] = (ended_at or time.time()) + self.ttl_s
        if len(self._until) % 256 == 0:
            self._forget_expired()

    def _forget_expired(self) -> None:
        now = time.time()
        for sid in [s for s, until in self._until.items() if until < now]:
            del self._until[sid]

    async def follow(self, bus: Bus, site: str, *, pool: asyncpg.Pool | None = None, retry_s: float = 2.0) -> None:
        """Learn ended sessions from ``hall.<site>.queue.session.ended`` for ever (re-subscribing after a
        NATS failure). A poison event names no session to refuse: it is dead-lettered (in ``pool``'s
        ``dead_letters``, once per stream sequence) and the follower goes on."""
        subject = subject_for(site, SessionEnded.TYPE)
        while True:
            try:
                start = datetime.now(UTC) - timedelta(seconds=self.ttl_s)
                sub = await bus.js.subscribe(subject, ordered_consumer=True,
                                             deliver_policy=DeliverPolicy.BY_START_TIME,
                                             config=ConsumerConfig(opt_start_time=start))
            except (nats.errors.Error, nats.js.errors.Error, TimeoutError, RuntimeError) as exc:
                log.warning("session_follow_failed", error=repr(exc), retry_in_s=retry_s)
                await asyncio.sleep(retry_s)
                continue
            try:
                async for msg in sub.messages:
                    await self._apply(msg, pool)
            except (nats.errors.Error, nats.js.errors.Error) as exc:
                log.warning("session_follow_interrupted", error=repr(exc))
                await asyncio.sleep(retry_s)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def _apply(self, msg: Msg, pool: asyncpg.Pool | None) -> None:
        got = deadletter.classify(deadletter.RawEvent.of(msg))
        if isinstance(got, deadletter.DeadLetter):
            if pool is None:
                log.error("session_event_dead_lettered", kind=got.kind, error=got.reason[:300])
                return
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                async with pool.acquire() as conn:
                    await deadletter.store(conn, "ended_sessions", [got])
            return
        env, data = got
        if isinstance(data, SessionEnded):
            self.add(data.session_id, env.occurred_at.timestamp())
            log.info("session_ended", staff_id=data.staff_id, reason=data.reason)
