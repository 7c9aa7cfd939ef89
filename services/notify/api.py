"""HTTP routes of the notify service (thin). Registering a contact is open (the kiosk or the window asks the
citizen for the number); answers show the number masked only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.notify.app import NotifyApp
from shared.consumer import dead_letter_summary

PREFIX = "/notify/api/v1"
router = APIRouter(prefix=PREFIX)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    ref_type: Literal["ticket", "case"]
    ref_id: uuid.UUID
    phone: str = Field(min_length=1, max_length=20)


async def app_of(request: Request) -> NotifyApp:
    return request.app.state.notify  # type: ignore[no-any-return]


App = Annotated[NotifyApp, Depends(app_of)]


@router.get("/health")
async def health(request: Request) -> Any:
    return await request.app.state.runtime.health()


@router.post("/contacts", status_code=201)
async def register_contact(body: ContactIn, app: App) -> dict[str, Any]:
    """A phone to notify about a ticket or a case; stored sealed, kept for the retention period."""
    return await app.register_contact(body.ref_type, body.ref_id, body.phone)


@router.get("/messages")
async def list_messages(app: App, ref_id: Annotated[str, Query(min_length=1, max_length=64)],
                        limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[dict[str, Any]]:
    """The messages of a ticket or a case, oldest first: [{id, template, text, parts, status, phone_masked}]."""
    return await app.messages(ref_id, limit)


@router.get("/dead-letters")
async def dead_letters(app: App, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, object]]:
    async with app.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM dead_letters ORDER BY id DESC LIMIT $1", limit)
    return dead_letter_summary(rows)
