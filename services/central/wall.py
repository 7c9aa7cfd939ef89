"""Server-sent events for the central wall (监管大屏): ``sites`` (everything, on connect), ``site`` (a site whose
figures or alerts changed) and ``alert`` (an alert opened, acknowledged or resolved). Driven by PostgreSQL NOTIFY
(the ingest, the evaluator and the API notify in their transactions), so several processes can serve the wall."""

from __future__ import annotations

import json
from typing import Any

from services.central.app import CentralApp
from services.central.projection_store import WALL_CHANNEL
from shared.logging import get_logger
from shared.sse import NotifyHub

log = get_logger("central.wall")


class WallHub(NotifyHub):
    def __init__(self, app: CentralApp, debounce_s: float = 0.3) -> None:
        super().__init__(app.pool, WALL_CHANNEL, debounce_s=debounce_s, queue_max=500)
        self.app = app
        self._sites: set[str] = set()
        self._alerts: set[int] = set()

    def on_payload(self, payload: str) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        self._sites.update(body.get("sites", []))
        self._alerts.update(body.get("alerts", []))

    async def flush(self) -> None:
        alert_ids, self._alerts = sorted(self._alerts), set()
        sites, self._sites = set(self._sites), set()
        if not self.clients:
            return
        alerts = await self.app.alerts_by_id(alert_ids) if alert_ids else []
        sites |= {a["site"] for a in alerts}
        for a in alerts:
            self.broadcast("alert", a)
        if sites:
            for s in await self.app.summaries(sites):
                self.broadcast("site", s)

    async def first(self) -> tuple[str, Any]:
        return "sites", await self.app.summaries()
