"""HTTP routes of the queue service (thin: parse, call the use case, shape the answer)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import Field

from services.queue.app import QueueApp
from services.queue.board import BoardHub, board_view
from services.queue.presentation import queues_view
from shared.auth import ClerkClaims
from shared.http import StrictIn, WindowNo, clerk_claims, state_dependency

PREFIX = "/queue/api/v1"
router = APIRouter(prefix=PREFIX)


class IssueIn(StrictIn):
    matter_id: str | None = Field(None, min_length=1, max_length=64)
    queue_id: uuid.UUID | None = None
    priority: Literal["normal", "green", "appointment"] = "normal"
    channel: Literal["kiosk", "window", "phone", "web", "wechat", "appointment"] = "kiosk"
    appointment_at: datetime | None = None


class SignInIn(StrictIn):
    staff_id: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class ReasonIn(StrictIn):
    reason: str | None = Field(None, max_length=200)


class TransferIn(StrictIn):
    to_queue_id: uuid.UUID | None = None
    to_window_no: int | None = Field(None, gt=0)


async def optional_clerk(request: Request) -> ClerkClaims | None:
    """The clerk of the request when it carries a token (a kiosk has none; green channel tickets need one)."""
    return await clerk_claims(request) if request.headers.get("authorization") else None


App = Annotated[QueueApp, Depends(state_dependency("queue"))]
Clerk = Annotated[ClerkClaims, Depends(clerk_claims)]


@router.get("/queues")
async def list_queues(app: App) -> list[dict[str, Any]]:
    async with app.pool.acquire() as conn:
        return await queues_view(app.ctx, conn)


@router.get("/matters")
async def list_matters(app: App) -> list[dict[str, Any]]:
    """Matters this site issues tickets for, with the queue that serves each."""
    async with app.pool.acquire() as conn:
        rows = await app.ctx.site_store.matters(conn)
    return [{"matter_id": r["matter_id"], "name": r["name"], "queue_id": str(r["queue_id"]),
             "queue_prefix": r["prefix"], "queue_name": r["queue_name"]} for r in rows]


@router.get("/windows")
async def list_windows(app: App) -> list[dict[str, Any]]:
    return (await board_view(app.ctx))["windows"]


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Hot paths answer plain JSON-ready dicts directly (no response-model pass, no jsonable_encoder)."""
    return JSONResponse(body, status_code=status)


@router.post("/tickets", status_code=201, response_model=None)
async def issue_ticket(body: IssueIn, app: App, request: Request) -> JSONResponse:
    return _json(await app.tickets.issue(matter_id=body.matter_id, queue_id=body.queue_id, priority=body.priority,
                                         channel=body.channel, appointment_at=body.appointment_at,
                                         staff=await optional_clerk(request)), 201)


@router.get("/tickets/{ticket_id}", response_model=None)
async def get_ticket(ticket_id: uuid.UUID, app: App) -> JSONResponse:
    return _json(await app.tickets.get(ticket_id))


@router.post("/windows/{no}/sign-in")
async def sign_in(no: WindowNo, body: SignInIn, app: App) -> dict[str, Any]:
    return await app.windows.sign_in(no, body.staff_id, body.password)


class SignOutIn(StrictIn):
    confirm: bool = False  # sign out although people issued before closing still wait (after the 409 warning)


@router.post("/windows/{no}/sign-out", responses={409: {"description": "StillWaiting: people still wait for the "
                                                       "window's queues (detail.waiting); send confirm: true"}})
async def sign_out(no: WindowNo, app: App, claims: Clerk, body: SignOutIn | None = None) -> dict[str, Any]:
    """签退. 409 ``StillWaiting`` with ``detail.waiting`` while people issued before closing still wait for the
    window's queues (不接待完最后一位群众不下班); ``{"confirm": true}`` signs out anyway, the event says how many."""
    return await app.windows.sign_out(claims, no, confirm=body.confirm if body else False)


@router.get("/windows/{no}/today")
async def clerk_today(no: WindowNo, app: App, claims: Clerk) -> dict[str, Any]:
    """The signed-in clerk's own numbers today: called, served, no-shows, average wait and service time."""
    return await app.windows.clerk_today(claims, no)


@router.post("/windows/{no}/pause")
async def pause(no: WindowNo, app: App, claims: Clerk, body: ReasonIn | None = None) -> dict[str, Any]:
    return await app.windows.pause(claims, no, body.reason if body else None)


@router.post("/windows/{no}/resume")
async def resume(no: WindowNo, app: App, claims: Clerk, body: ReasonIn | None = None) -> dict[str, Any]:
    return await app.windows.resume(claims, no, body.reason if body else None)


@router.post("/windows/{no}/call-next", responses={204: {"description": "nobody is waiting"}})
async def call_next(no: WindowNo, app: App, claims: Clerk) -> Any:
    ticket = await app.calling.call_next(claims, no)
    return _json(ticket) if ticket is not None else Response(status_code=204)


@router.post("/tickets/{ticket_id}/recall", response_model=None)
async def ticket_recall(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
    return _json(await app.tickets.recall(claims, ticket_id))


@router.post("/tickets/{ticket_id}/start", response_model=None)
async def ticket_start(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
    return _json(await app.tickets.start(claims, ticket_id))


@router.post("/tickets/{ticket_id}/complete", response_model=None)
async def ticket_complete(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
    return _json(await app.tickets.complete(claims, ticket_id))


@router.post("/tickets/{ticket_id}/no-show", response_model=None)
async def ticket_no_show(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
    return _json(await app.tickets.no_show(claims, ticket_id))


@router.post("/tickets/{ticket_id}/requeue", response_model=None)
async def ticket_requeue(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
    return _json(await app.tickets.requeue(claims, ticket_id))


@router.post("/tickets/{ticket_id}/transfer")
async def transfer(ticket_id: uuid.UUID, body: TransferIn, app: App, claims: Clerk) -> dict[str, Any]:
    return await app.tickets.transfer(claims, ticket_id, to_queue_id=body.to_queue_id,
                                      to_window_no=body.to_window_no)


@router.post("/tickets/{ticket_id}/cancel")
async def cancel(ticket_id: uuid.UUID, app: App, claims: Clerk, body: ReasonIn | None = None) -> dict[str, Any]:
    return await app.tickets.cancel(claims, ticket_id, reason=(body.reason if body else None) or "cancelled")


@router.get("/board")
async def board(app: App) -> dict[str, Any]:
    return await board_view(app.ctx)


@router.get("/board/stream")
async def board_stream(request: Request) -> StreamingResponse:
    hub: BoardHub = request.app.state.board_hub
    return StreamingResponse(hub.stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


index_router = APIRouter()


@index_router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request) -> str:
    s = request.app.state.queue.settings
    links = [("叫号屏数据 / board", f"{PREFIX}/board"), ("实时推送 / board stream", f"{PREFIX}/board/stream"),
             ("队列 / queues", f"{PREFIX}/queues"), ("事项 / matters", f"{PREFIX}/matters"),
             ("窗口 / windows", f"{PREFIX}/windows"), ("接口文档 / API docs", "/queue/docs")]
    items = "".join(f'<li><a href="{href}">{label}</a></li>' for label, href in links)
    return (f"<!doctype html><html lang='zh-CN'><meta charset='utf-8'><title>{s.site_name}</title>"
            f"<body><h1>{s.site_name}</h1><p>站点 / site: {s.site}</p><ul>{items}</ul></body></html>")
