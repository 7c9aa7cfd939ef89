"""Site-level events."""

from __future__ import annotations

from shared.events.base import EventData


class SiteHeartbeat(EventData):
    TYPE = "site.heartbeat"
    services: dict[str, str]
    version: str
