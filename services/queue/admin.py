"""The hall manager's side (大厅负责人): sign in without a window, staff, AB roles (AB角), windows and the
queues each serves (科室柜员制). Manager tokens carry ``role: manager`` and window 0; every service of the
site accepts them for its manager-only calls."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from services.queue.app import QueueApp
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, hash_password, issue_token, verify_password
from shared.events.queue import SessionEnded
from shared.http import bearer_claims
from shared.ids import uuid7

router = APIRouter(prefix="/queue/api/v1")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ManagerSignIn(_In):
    staff_id: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class StaffIn(_In):
    staff_id: str = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$")
    name: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=6, max_length=128)
    manager: bool = False


class StaffPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=32)
    password: str | None = Field(None, min_length=6, max_length=128)
    active: bool | None = None


class RolesIn(_In):
    a: str = Field(min_length=1, max_length=32)  # A角: the window's own clerk
    b: list[str] = Field(min_length=1, max_length=5)  # B角: stand-ins, so the window is never left empty


class WindowPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=32)
    queues: list[str] | None = Field(None, min_length=1, max_length=10)  # prefixes in preference order


async def manager(request: Request) -> ClerkClaims:
    app: QueueApp = request.app.state.queue
    claims = bearer_claims(request, app.settings.token_secret, app.site)
    if claims.role != "manager":
        raise errors.Forbidden("需要大厅负责人权限 / a hall manager's token is required")
    async with app.pool.acquire() as conn:
        # a duty manager's own session, or a manager signed in at a window (its window session)
        live = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM manager_sessions m JOIN staff s ON s.id = m.staff_id
                              WHERE m.session_id = $1 AND m.staff_id = $2 AND m.ended_at IS NULL
                                AND s.active AND s.is_manager)
                   OR EXISTS (SELECT 1 FROM windows w WHERE w.session_id = $1 AND w.staff_id = $2)""",
            claims.session_id, claims.staff_id)
    if not live:
        raise errors.Unauthorized("登录已失效，请重新登录 / this session has ended: sign in again")
    return claims


Manager = Annotated[ClerkClaims, Depends(manager)]


def _app(request: Request) -> QueueApp:
    return request.app.state.queue  # type: ignore[no-any-return]


@router.post("/manager/sign-in")
async def manager_sign_in(body: ManagerSignIn, request: Request) -> dict[str, Any]:
    app = _app(request)
    async with app.pool.acquire() as conn:
        staff = await app.store.staff(conn, body.staff_id)
    ok = staff is not None and await asyncio.to_thread(verify_password, body.password, staff["password_hash"])
    if not ok or staff is None:
        raise errors.Unauthorized("工号或密码错误 / wrong staff id or password")
    if not staff["is_manager"]:
        raise errors.Forbidden(f"{body.staff_id} 不是大厅负责人 / not a hall manager")
    session, expires = uuid7(), int(time.time()) + TOKEN_TTL_S
    async with app.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO manager_sessions (session_id, staff_id, expires_at) VALUES ($1, $2, to_timestamp($3))",
            session, body.staff_id, expires)
    token = issue_token(app.settings.token_secret, ClerkClaims(
        site=app.site, staff_id=body.staff_id, window_no=0, session_id=session, expires_at=expires, role="manager"))
    return {"token": token, "staff_id": body.staff_id, "role": "manager", "expires_in_s": TOKEN_TTL_S}


async def _end_manager_sessions(app: QueueApp, conn: asyncpg.Connection, staff_id: str, reason: str,
                                session_id: uuid.UUID | None = None) -> int:
    """End a manager's live sessions (one, or all of them) and tell every service of the site."""
    rows = await conn.fetch(
        """UPDATE manager_sessions SET ended_at = now(), end_reason = $3
           WHERE staff_id = $1 AND ended_at IS NULL AND ($2::uuid IS NULL OR session_id = $2)
           RETURNING session_id""", staff_id, session_id, reason)
    if rows:
        await app.emit_now(conn, *(SessionEnded(session_id=r["session_id"], staff_id=staff_id, role="manager",
                                            reason=reason) for r in rows))
    return len(rows)


@router.post("/manager/sign-out")
async def manager_sign_out(request: Request, claims: Manager) -> dict[str, Any]:
    """End this duty manager's session: its token is refused by every service of the site from now on."""
    app = _app(request)
    async with app.pool.acquire() as conn, conn.transaction():
        ended = await _end_manager_sessions(app, conn, claims.staff_id, "signed_out", claims.session_id)
    return {"staff_id": claims.staff_id, "session_ended": bool(ended)}


@router.get("/staff")
async def list_staff(request: Request, _: Manager) -> list[dict[str, Any]]:
    app = _app(request)
    async with app.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT s.id, s.name, s.is_manager, s.active,
                      coalesce(json_agg(json_build_array(r.window_no, r.role) ORDER BY r.window_no)
                               FILTER (WHERE r.window_no IS NOT NULL), '[]') AS roles
               FROM staff s LEFT JOIN window_roles r ON r.staff_id = s.id GROUP BY s.id ORDER BY s.id""")
    return [{"staff_id": r["id"], "name": r["name"], "manager": r["is_manager"], "active": r["active"],
             "roles": r["roles"]} for r in rows]


@router.post("/staff", status_code=201)
async def add_staff(body: StaffIn, request: Request, _: Manager) -> dict[str, Any]:
    app = _app(request)
    pw = await asyncio.to_thread(hash_password, body.password)
    async with app.pool.acquire() as conn:
        status = await conn.execute(
            """INSERT INTO staff (id, name, password_hash, is_manager) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO NOTHING""", body.staff_id, body.name, pw, body.manager)
    if not status.endswith(" 1"):
        raise errors.Conflict(f"工号 {body.staff_id} 已存在 / staff id already exists")
    return {"staff_id": body.staff_id, "name": body.name, "manager": body.manager, "active": True, "roles": []}


@router.patch("/staff/{staff_id}")
async def change_staff(staff_id: str, body: StaffPatch, request: Request, _: Manager) -> dict[str, Any]:
    app = _app(request)
    pw = await asyncio.to_thread(hash_password, body.password) if body.password else None
    async with app.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """UPDATE staff SET name = coalesce($2, name), password_hash = coalesce($3, password_hash),
                   active = coalesce($4, active) WHERE id = $1 RETURNING id, name, is_manager, active""",
            staff_id, body.name, pw, body.active)
        if row is None:
            raise errors.NotFound(f"工号不存在 / no staff {staff_id}")
        if body.active is False and await conn.fetchval("SELECT no FROM windows WHERE staff_id = $1", staff_id):
            raise errors.Conflict("该工作人员仍在窗口登录，请先签退 / still signed in at a window")
        if body.active is False:
            await _end_manager_sessions(app, conn, staff_id, "deactivated")
    return {"staff_id": row["id"], "name": row["name"], "manager": row["is_manager"], "active": row["active"]}


class EndSessionIn(_In):
    reason: str | None = Field(None, max_length=200)


@router.post("/windows/{no}/end-session")
async def end_window_session(no: int, request: Request, claims: Manager,
                             body: EndSessionIn | None = Body(None)) -> dict[str, Any]:  # noqa: B008
    """强制签退: end the session of a window whose clerk left without signing out, so the B role can sign in;
    the clerk's token is refused by every service from then on, a ticket at the window goes back to the line."""
    return await _app(request).end_window_session(claims, no, body.reason if body else None)


@router.put("/windows/{no}/roles")
async def set_roles(no: int, body: RolesIn, request: Request, _: Manager) -> dict[str, Any]:
    """Replace the window's AB roles: one A, one or more B, all different people (杜绝空窗)."""
    if body.a in body.b or len(set(body.b)) != len(body.b):
        raise errors.Unprocessable("A角与B角须为不同的人 / A and B roles must be different people")
    app = _app(request)
    people = [body.a, *body.b]
    async with app.pool.acquire() as conn, conn.transaction():
        if await app.store.window(conn, no, lock=True) is None:
            raise errors.NotFound(f"窗口不存在 / no window {no}")
        known = {r["id"] for r in await conn.fetch("SELECT id FROM staff WHERE id = ANY($1) AND active", people)}
        if unknown := [p for p in people if p not in known]:
            raise errors.Unprocessable(f"工号不存在或已停用 / unknown or inactive staff: {', '.join(unknown)}")
        await conn.execute("DELETE FROM window_roles WHERE window_no = $1", no)
        await conn.executemany("INSERT INTO window_roles (window_no, staff_id, role) VALUES ($1, $2, $3)",
                               [(no, body.a, "A"), *((no, b, "B") for b in body.b)])
    return {"window_no": no, "a": body.a, "b": body.b}


@router.patch("/windows/{no}")
async def change_window(no: int, body: WindowPatch, request: Request, _: Manager) -> dict[str, Any]:
    app = _app(request)
    async with app.pool.acquire() as conn, conn.transaction():
        if await app.store.window(conn, no, lock=True) is None:
            raise errors.NotFound(f"窗口不存在 / no window {no}")
        queue_ids = None
        if body.queues is not None:
            if len(set(body.queues)) != len(body.queues):
                raise errors.Unprocessable("队列重复 / a queue is listed twice")
            rows = await conn.fetch("SELECT id, prefix FROM queues WHERE prefix = ANY($1) AND active", body.queues)
            by_prefix = {r["prefix"]: r["id"] for r in rows}
            if unknown := [p for p in body.queues if p not in by_prefix]:
                raise errors.Unprocessable(f"队列不存在 / unknown queues: {', '.join(unknown)}")
            queue_ids = [by_prefix[p] for p in body.queues]
        row = await conn.fetchrow(
            """UPDATE windows SET name = coalesce($2, name), queue_ids = coalesce($3, queue_ids) WHERE no = $1
               RETURNING no, name, state""", no, body.name, queue_ids)
        await conn.execute("SELECT pg_notify('hallnet_queue_board', '')")
    return {"no": row["no"], "name": row["name"], "state": row["state"], "queues": body.queues}
