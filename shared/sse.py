"""Server-sent events fed by PostgreSQL NOTIFY: one LISTEN connection per process, every SSE client of the process
gets the updates (coalesced over ``debounce_s``), so several processes can serve the same screens."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg


class NotifyHub:
    """Subclasses say what a NOTIFY payload means (``on_payload``), what to send after changes (``flush``, also
    called with no client connected, to reset what it gathered) and what a new client gets first (``first``)."""

    def __init__(self, pool: asyncpg.Pool, channel: str, *, debounce_s: float = 0.2, queue_max: int = 100) -> None:
        self.pool = pool
        self.channel = channel
        self.debounce_s = debounce_s
        self.queue_max = queue_max  # a client this far behind misses updates rather than growing without bound
        self.clients: set[asyncio.Queue[tuple[str, str]]] = set()
        self._dirty = asyncio.Event()

    # --- the subclass's part ------------------------------------------------------------------------------------
    def on_payload(self, payload: str) -> None:
        """Called for every NOTIFY, before the hub marks itself dirty."""

    async def flush(self) -> None:
        """After the debounce: broadcast what changed."""

    async def first(self) -> tuple[str, Any]:
        """The event a client gets on connect: (name, data)."""
        raise NotImplementedError

    # --- the mechanism ------------------------------------------------------------------------------------------
    def broadcast(self, event: str, data: Any) -> None:
        text = json.dumps(data, ensure_ascii=False, default=str)
        for q in list(self.clients):
            if q.qsize() < self.queue_max:
                q.put_nowait((event, text))

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.on_payload(payload)
        self._dirty.set()

    async def run(self) -> None:
        conn = await self.pool.acquire()
        try:
            await conn.add_listener(self.channel, self._on_notify)
            while True:
                await self._dirty.wait()
                await asyncio.sleep(self.debounce_s)
                self._dirty.clear()
                await self.flush()
        finally:
            with contextlib.suppress(Exception):
                await conn.remove_listener(self.channel, self._on_notify)
            with contextlib.suppress(Exception):
                await self.pool.release(conn)

    async def stream(self, keepalive_s: float = 15.0) -> AsyncIterator[str]:
        q: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.clients.add(q)
        try:
            event, data = await self.first()
            yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"
            while True:
                try:
                    async with asyncio.timeout(keepalive_s):
                        event, text = await q.get()
                    yield f"event: {event}\ndata: {text}\n\n"
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self.clients.discard(q)
