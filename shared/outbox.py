"""Transactional outbox and its relay; the inbox that makes a consumer apply an event once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
import nats.errors
import nats.js.errors

from shared.events.base import Envelope
from shared.logging import get_logger
from shared.tracing import inject_headers

if TYPE_CHECKING:
    from shared.bus import Bus

log = get_logger("outbox")
NOTIFY_CHANNEL = "hallnet_outbox"


def outbox_cte(first: int) -> str:
    """``ins AS (INSERT INTO outbox …)`` over the parameters ``$first`` … ``$first+4`` (``outbox_args``), for a
    statement that writes its own change and its events in one round trip. ``outbox_notify(first)`` are the
    select-list items that wake the relay and the extra listener (``$first+5``, ``$first+6``)."""
    return f"""ins AS (
                INSERT INTO outbox (event_id, subject, msg_id, payload, headers)
                SELECT e, s, m, p, ${first + 4}::jsonb
                FROM unnest(${first}::uuid[], ${first + 1}::text[], ${first + 2}::text[], ${first + 3}::bytea[])
                     AS x(e, s, m, p)
                RETURNING 1)"""


def outbox_notify(first: int) -> str:
    return f"pg_notify('{NOTIFY_CHANNEL}', ''), pg_notify(${first + 5}, ${first + 6})"


def outbox_args(events: tuple[Envelope, ...] | list[Envelope]) -> list[Any]:
    """The five parameters of ``outbox_cte``."""
    return [[e.id for e in events], [e.subject for e in events], [e.msg_id for e in events],
            [e.to_bytes() for e in events], inject_headers({})]


async def add_to_outbox(conn: asyncpg.Connection, *events: Envelope, notify: tuple[str, str] | None = None) -> None:
    """Record events in the caller's transaction; they are published after it commits. One round trip,
    which also wakes the relay and, with ``notify=(channel, payload)``, one more listener."""
    if not events and notify is None:
        return
    await conn.execute(f"WITH {outbox_cte(1)} SELECT (SELECT count(*) FROM ins), {outbox_notify(1)}",
                       *outbox_args(events), *(notify or (NOTIFY_CHANNEL, "")))


async def claim_inbox(conn: asyncpg.Connection, consumer: str, event_id: Any) -> bool:
    """True the first time ``consumer`` sees ``event_id``; call inside the effect's transaction."""
    status = await conn.execute(
        "INSERT INTO inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", consumer, event_id
    )
    return status.endswith(" 1")


class OutboxRelay:
    """Publishes unpublished outbox rows in order; woken by NOTIFY, polling as a fallback.

    A crash between publish and marking re-publishes the same ``Nats-Msg-Id`` on restart: the
    stream's duplicate window drops it, and consumers' inboxes drop anything older.
    """

    def __init__(self, pool: asyncpg.Pool, bus: Bus, *, batch: int = 500, poll_s: float = 1.0) -> None:
        self.pool = pool
        self.bus = bus
        self.batch = batch
        self.poll_s = poll_s
        self._wake = asyncio.Event()
        self._listen_conn: asyncpg.Connection | None = None
        self.published = 0

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        try:
            self._listen_conn = await self.pool.acquire()
            await self._listen_conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:  # polling still works without it
            log.warning("outbox_listen_failed", error=str(exc))

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows were published."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT seq, subject, msg_id, payload, headers FROM outbox
                   WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self.batch,
            )
            if not rows:
                return 0
            futures = []
            for r in rows:
                headers = dict(r["headers"])
                headers["Nats-Msg-Id"] = r["msg_id"]
                headers["Content-Type"] = "application/json"
                futures.append(await self.bus.publish_async_raw(r["subject"], bytes(r["payload"]), headers))
            await asyncio.gather(*futures)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows]
            )
        self.published += len(rows)
        return len(rows)

    async def run(self) -> None:
        await self._listen()
        backoff = 0.2
        last_cleanup = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                n = await self.publish_pending()
                backoff = 0.2
                if loop.time() - last_cleanup > 300:
                    last_cleanup = loop.time()
                    await self.pool.execute(
                        "DELETE FROM outbox WHERE published_at < now() - interval '1 day'"
                    )
                if n >= self.batch:
                    continue
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands
                # just as the event fires, and the relay would never stop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_s):
                        await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except (
                OSError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                nats.errors.Error,
                nats.js.errors.Error,
                TimeoutError,
            ) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc  # nats-py turns a cancel into TooManyStalledMsgs
                log.warning("outbox_publish_failed", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        if self._listen_conn is not None:
            with contextlib.suppress(Exception):
                await self._listen_conn.remove_listener(NOTIFY_CHANNEL, self._on_notify)
            with contextlib.suppress(Exception):
                await self.pool.release(self._listen_conn)
            self._listen_conn = None
