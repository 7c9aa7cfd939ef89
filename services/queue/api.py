"""HTTP routes of the queue service (thin: parse, call the use case, shape the answer)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.queue.app import QueueApp
from services.queue.board import BoardHub, board_view, queues_view
from shared.auth import ClerkClaims
from shared.http import bearer_claims

PREFIX = "/queue/api/v1"
router = APIRouter(prefix=PREFIX)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class IssueIn(_In):
    matter_id: str | None = Field(None, min_length=1, max_length=64)
    queue_id: uuid.UUID | None = None
    priority: Literal["normal", "green", "appointment"] = "normal"
    channel: Literal["kiosk", "window", "phone", "web", "wechat", "appointment"] = "kiosk"
    appointment_at: datetime | None = None


class SignInIn(_In):
    staff_id: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class ReasonIn(_In):
    reason: str | None = Field(None, max_length=200)


class TransferIn(_In):
    to_queue_id: uuid.UUID | None = None
    to_window_no: int | None = Field(None, gt=0)


# Dependencies are async on purpose: a plain def would run in FastAPI's thread pool on every request.
async def app_of(request: Request) -> QueueApp:
    return request.app.state.queue  # type: ignore[no-any-return]


async def clerk(request: Request) -> ClerkClaims:
    s = request.app.state.queue.settings
    return bearer_claims(request, s.token_secret, s.site)


async def optional_clerk(request: Request) -> ClerkClaims | None:
    return await clerk(request) if request.headers.get("authorization") else None


App = Annotated[QueueApp, Depends(app_of)]
Clerk = Annotated[ClerkClaims, Depends(clerk)]


@router.get("/queues")
async def list_queues(app: App) -> list[dict[str, Any]]:
    async with app.pool.acquire() as conn:
        return await queues_view(app, conn)


@router.get("/matters")
async def list_matters(app: App) -> list[dict[str, Any]]:
    """Matters this site issues tickets for, with the queue that serves each."""
    async with app.pool.acquire() as conn:
        rows = await app.store.matters(conn)
    return [{"matter_id": r["matter_id"], "name": r["name"], "queue_id": str(r["queue_id"]),
             "queue_prefix": r["prefix"], "queue_name": r["queue_name"]} for r in rows]


@router.get("/windows")
async def list_windows(app: App) -> list[dict[str, Any]]:
    return (await board_view(app))["windows"]


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Hot paths answer plain JSON-ready dicts directly (no response-model pass, no jsonable_encoder)."""
    return JSONResponse(body, status_code=status)


@router.post("/tickets", status_code=201, response_model=None)
async def issue_ticket(body: IssueIn, app: App, request: Request) -> JSONResponse:
    return _json(await app.issue(matter_id=body.matter_id, queue_id=body.queue_id, priority=body.priority,
                                 channel=body.channel, appointment_at=body.appointment_at,
                                 staff=await optional_clerk(request)), 201)


@router.get("/tickets/{ticket_id}", response_model=None)
async def get_ticket(ticket_id: uuid.UUID, app: App) -> JSONResponse:
    return _json(await app.get_ticket(ticket_id))


@router.post("/windows/{no}/sign-in")
async def sign_in(no: int, body: SignInIn, app: App) -> dict[str, Any]:
    return await app.sign_in(no, body.staff_id, body.password)


@router.post("/windows/{no}/sign-out")
async def sign_out(no: int, app: App, claims: Clerk) -> dict[str, Any]:
    return await app.sign_out(claims, no)


@router.get("/windows/{no}/today")
async def clerk_today(no: int, app: App, claims: Clerk) -> dict[str, Any]:
    """The signed-in clerk's own numbers today: called, served, no-shows, average wait and service time."""
    return await app.clerk_today(claims, no)


@router.post("/windows/{no}/pause")
async def pause(no: int, app: App, claims: Clerk, body: ReasonIn | None = Body(None)) -> dict[str, Any]:  # noqa: B008
    return await app.pause(claims, no, body.reason if body else None)


@router.post("/windows/{no}/resume")
async def resume(no: int, app: App, claims: Clerk, body: ReasonIn | None = Body(None)) -> dict[str, Any]:  # noqa: B008
    return await app.resume(claims, no, body.reason if body else None)


@router.post("/windows/{no}/call-next", responses={204: {"description": "nobody is waiting"}})
async def call_next(no: int, app: App, claims: Clerk) -> Any:
    ticket = await app.call_next(claims, no)
    return _json(ticket) if ticket is not None else Response(status_code=204)


def _action(name: str) -> Any:
    async def handler(ticket_id: uuid.UUID, app: App, claims: Clerk) -> JSONResponse:
        return _json(await app.act(claims, ticket_id, name))

    handler.__name__ = f"ticket_{name}"
    return handler


for _path, _name in [("recall", "recall"), ("start", "start"), ("complete", "complete"),
                     ("no-show", "no_show"), ("requeue", "requeue")]:
    router.add_api_route(f"/tickets/{{ticket_id}}/{_path}", _action(_name), methods=["POST"], response_model=None)


@router.post("/tickets/{ticket_id}/transfer")
async def transfer(ticket_id: uuid.UUID, body: TransferIn, app: App, claims: Clerk) -> dict[str, Any]:
    return await app.act(claims, ticket_id, "transfer", to_queue_id=body.to_queue_id, to_window_no=body.to_window_no)


@router.post("/tickets/{ticket_id}/cancel")
async def cancel(ticket_id: uuid.UUID, app: App, claims: Clerk,
                 body: ReasonIn | None = Body(None)) -> dict[str, Any]:  # noqa: B008
    return await app.act(claims, ticket_id, "cancel", reason=(body.reason if body else None) or "cancelled")


@router.get("/board")
async def board(app: App) -> dict[str, Any]:
    return await board_view(app)


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
