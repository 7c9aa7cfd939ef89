"""Server-sent events for the central wall (监管大屏): ``sites`` (everything, on connect), ``site`` (a site whose
figures or alerts changed) and ``alert`` (an alert opened, acknowledged or resolved). Driven by PostgreSQL NOTIFY
(the ingest, the evaluator and the API notify in their transactions), so several processes can serve the wall."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from services.central.app import CentralApp
from services.central.projections import WALL_CHANNEL
from shared.logging import get_logger

log = get_logger("central.wall")


class WallHub:
    def __init__(self, app: CentralApp, debounce_s: float = 0.3) -> None:
        self.app = app
        self.debounce_s = debounce_s
        self._clients: set[asyncio.Queue[tuple[str, str]]] = set()
        self._dirty = asyncio.Event()
        self._sites: set[str] = set()
        self._alerts: set[int] = set()
        self._conn: asyncpg.Connection | None = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        self._sites.update(body.get("sites", []))
        self._alerts.update(body.get("alerts", []))
        self._dirty.set()

    def _broadcast(self, event: str, data: Any) -> None:
        text = json.dumps(data, ensure_ascii=False, default=str)
        for q in list(self._clients):
            if q.qsize() < 500:
                q.put_nowait((event, text))

    async def run(self) -> None:
        self._conn = await self.app.pool.acquire()
        try:
            await self._conn.add_listener(WALL_CHANNEL, self._on_notify)
            while True:
                await self._dirty.wait()
                await asyncio.sleep(self.debounce_s)
                self._dirty.clear()
                alert_ids, self._alerts = sorted(self._alerts), set()
                sites, self._sites = set(self._sites), set()
                if not self._clients:
                    continue
                alerts = await self.app.alerts_by_id(alert_ids) if alert_ids else []
                sites |= {a["site"] for a in alerts}
                for a in alerts:
                    self._broadcast("alert", a)
                if sites:
                    for s in await self.app.summaries(sites):
                        self._broadcast("site", s)
        finally:
            with contextlib.suppress(Exception):
                await self._conn.remove_listener(WALL_CHANNEL, self._on_notify)
            with contextlib.suppress(Exception):
                await self.app.pool.release(self._conn)

    async def stream(self, keepalive_s: float = 15.0) -> AsyncIterator[str]:
        q: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._clients.add(q)
        try:
            first = json.dumps(await self.app.summaries(), ensure_ascii=False, default=str)
            yield f"event: sites\ndata: {first}\n\n"
            while True:
                try:
                    async with asyncio.timeout(keepalive_s):
                        event, text = await q.get()
                    yield f"event: {event}\ndata: {text}\n\n"
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._clients.discard(q)
