"""Use cases of the hall manager (大厅负责人, 值班长): signing in without a window, staff, AB roles (AB角), and the
queues each window serves (科室柜员制). Manager tokens carry ``role: manager`` and window 0; every service of the
site accepts them for its manager-only calls. The rules of a window's staffing are the pure ``check_*`` below."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from services.queue.context import QueueContext
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, hash_password

MANAGER = "manager"  # the role of a duty manager's token
BACKOFFICE = "backoffice"  # the role of a back-office clerk's token (后台, window 0, with a department)


def check_roles(a: str, b: list[str]) -> None:
    """A window has one A (its own clerk) and at least one B (stand-ins), all different people (杜绝空窗)."""
    if not b:
        raise errors.Unprocessable("至少需要一名B角 / a window needs at least one B role")
    if a in b or len(set(b)) != len(b):
        raise errors.Unprocessable("A角与B角须为不同的人 / A and B roles must be different people")


def check_no_repeats(prefixes: list[str]) -> None:
    if len(set(prefixes)) != len(prefixes):
        raise errors.Unprocessable("队列重复 / a queue is listed twice")


def queue_ids_in_order(prefixes: list[str], known: Mapping[str, uuid.UUID]) -> list[uuid.UUID]:
    """The queues a window serves, in its order of preference; every prefix must be a queue of the hall."""
    if unknown := [p for p in prefixes if p not in known]:
        raise errors.Unprocessable(f"队列不存在 / unknown queues: {', '.join(unknown)}")
    return [known[p] for p in prefixes]


class ManagerCases:
    def __init__(self, ctx: QueueContext) -> None:
        self.ctx = ctx
        self.store = ctx.site_store

    async def authorize(self, claims: ClerkClaims) -> ClerkClaims:
        """The claims of a manager whose session is live (a duty manager's own, or a manager's window session)."""
        return await self.ctx.live_staff_session(claims, MANAGER,
                                                 "需要大厅负责人权限 / a hall manager's token is required")

    async def sign_in(self, staff_id: str, password: str) -> dict[str, Any]:
        staff = await self.ctx.checked_staff(staff_id, password)
        if not staff["is_manager"]:
            raise errors.Forbidden(f"{staff_id} 不是大厅负责人 / not a hall manager")
        token = await self.ctx.open_staff_session(staff_id, MANAGER)
        return {"token": token, "staff_id": staff_id, "role": MANAGER, "expires_in_s": TOKEN_TTL_S}

    async def sign_out(self, claims: ClerkClaims) -> dict[str, Any]:
        """End this duty manager's session: its token is refused by every service of the site from now on."""
        return await self.ctx.end_own_session(claims)

    async def list_staff(self) -> list[dict[str, Any]]:
        async with self.ctx.pool.acquire() as conn:
            rows = await self.store.staff_with_roles(conn)
        return [{"staff_id": r["id"], "name": r["name"], "manager": r["is_manager"], "backoffice": r["backoffice"],
                 "active": r["active"], "roles": r["roles"]} for r in rows]

    async def add_staff(self, staff_id: str, name: str, password: str, manager: bool,
                        backoffice: str | None = None) -> dict[str, Any]:
        """A new staff member: a clerk (AB roles come with ``PUT /windows/{no}/roles``), a duty manager, and/or a
        back-office clerk of department ``backoffice`` (后台/科室)."""
        pw = await asyncio.to_thread(hash_password, password)
        async with self.ctx.pool.acquire() as conn:
            added = await self.store.add_staff(conn, staff_id, name, pw, manager, backoffice)
        if not added:
            raise errors.Conflict(f"工号 {staff_id} 已存在 / staff id already exists")
        return {"staff_id": staff_id, "name": name, "manager": manager, "backoffice": backoffice, "active": True,
                "roles": []}

    async def change_staff(self, staff_id: str, *, name: str | None, password: str | None, active: bool | None,
                           backoffice: str | None = None, set_backoffice: bool = False) -> dict[str, Any]:
        """Rename, set a new password, move to another department (``set_backoffice``; None: out of the back office),
        or (de)activate. Deactivating ends every session of the person bound to no window (duty manager, back office)
        and is refused while they are signed in at a window; a change of department ends their back-office sessions
        (their tokens name the old one)."""
        pw = await asyncio.to_thread(hash_password, password) if password else None
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            changed = await self.store.change_staff(conn, staff_id, name=name, password_hash=pw, active=active,
                                                    backoffice=backoffice, set_backoffice=set_backoffice)
            if changed is None:
                raise errors.NotFound(f"工号不存在 / no staff {staff_id}")
            row, department_before = changed
            if active is False and await self.ctx.store.window_of(conn, staff_id):
                raise errors.Conflict("该工作人员仍在窗口登录，请先签退 / still signed in at a window")
            if active is False:
                await self.ctx.end_staff_sessions(conn, staff_id, "deactivated")
            elif row["backoffice"] != department_before:
                await self.ctx.end_staff_sessions(conn, staff_id, "ended_by_manager", role=BACKOFFICE)
        return {"staff_id": row["id"], "name": row["name"], "manager": row["is_manager"],
                "backoffice": row["backoffice"], "active": row["active"]}

    async def set_roles(self, window_no: int, a: str, b: list[str]) -> dict[str, Any]:
        """Replace the window's AB roles: one A, one or more B, all different people (杜绝空窗)."""
        check_roles(a, b)
        people = [a, *b]
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await self._lock_window(conn, window_no)
            known = await self.store.active_staff(conn, people)
            if unknown := [p for p in people if p not in known]:
                raise errors.Unprocessable(f"工号不存在或已停用 / unknown or inactive staff: {', '.join(unknown)}")
            await self.store.replace_roles(conn, window_no, [(a, "A"), *((x, "B") for x in b)])
        return {"window_no": window_no, "a": a, "b": b}

    async def change_window(self, window_no: int, *, name: str | None, queues: list[str] | None) -> dict[str, Any]:
        """Rename a window, or change the queues it serves (prefixes, in its order of preference)."""
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            await self._lock_window(conn, window_no)
            queue_ids = None
            if queues is not None:
                check_no_repeats(queues)
                queue_ids = queue_ids_in_order(queues, await self.store.queue_ids(conn, queues))
            row = await self.store.change_window(conn, window_no, name=name, queue_ids=queue_ids)
        return {"no": row["no"], "name": row["name"], "state": row["state"], "queues": queues}

    async def _lock_window(self, conn: asyncpg.Connection, window_no: int) -> None:
        if await self.ctx.store.window(conn, window_no, lock=True) is None:
            raise errors.NotFound(f"窗口不存在 / no window {window_no}")
