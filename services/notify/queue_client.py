"""The queue service (叫号) as the notify service asks it about one ticket: ``GET /queue/api/v1/tickets/{id}``
answers its status and the people ahead of it now (events carry ``ahead`` only for the ticket just issued)."""

from __future__ import annotations

from typing import Any

import httpx

from shared.logging import get_logger

log = get_logger("notify")


class QueueClient:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport)

    async def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """``{status, ahead, number, …}``; ``{"status": "unknown"}`` for a ticket the queue does not know (never
        waiting, so no SMS); None when the queue service cannot answer now (asked again later)."""
        try:
            r = await self.client.get(f"/queue/api/v1/tickets/{ticket_id}")
        except httpx.HTTPError as exc:
            log.warning("queue_unreachable", ticket_id=ticket_id, error=type(exc).__name__)
            return None
        if r.status_code in (404, 422):
            return {"status": "unknown", "ahead": 0}
        if not r.is_success:
            log.warning("queue_error", ticket_id=ticket_id, status=r.status_code)
            return None
        try:
            body = r.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def close(self) -> None:
        await self.client.aclose()
