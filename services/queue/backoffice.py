"""Use cases of back-office staff (后台/科室): 前台受理, 后台办理 — the windows accept cases, the departments behind
them process them. A back-office clerk signs in with staff id and password, bound to no window; the token says
``role: backoffice``, window 0 and the staff member's department (科室, as the matters catalog names it), and the
matters service lets it act on the cases of that department. Sessions work as the duty manager's (``manager.py``):
live until signed out, deactivated, moved to another department, or expired; each end is ``queue.session.ended``,
so every service of the site refuses the token from then on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from services.queue import domain as d
from services.queue.context import QueueContext
from services.queue.manager import BACKOFFICE
from shared import errors
from shared.auth import TOKEN_TTL_S, ClerkClaims, issue_token, verify_password
from shared.ids import uuid7


class BackOfficeCases:
    def __init__(self, ctx: QueueContext) -> None:
        self.ctx = ctx
        self.store = ctx.site_store

    async def sign_in(self, staff_id: str, password: str) -> dict[str, Any]:
        """A token for the staff member's department (401 for a wrong password, 403 without a department)."""
        ctx = self.ctx
        async with ctx.pool.acquire() as conn:
            staff = await ctx.store.staff(conn, staff_id)
        ok = staff is not None and await asyncio.to_thread(verify_password, password, staff["password_hash"])
        if not ok or staff is None:
            raise errors.Unauthorized("工号或密码错误 / wrong staff id or password")
        department = d.backoffice_department(staff_id, staff["backoffice"])
        session, expires = uuid7(), int(time.time()) + TOKEN_TTL_S
        async with ctx.pool.acquire() as conn:
            await self.store.start_staff_session(conn, session, staff_id, BACKOFFICE, expires, department)
        token = issue_token(ctx.settings.token_secret, ClerkClaims(
            site=ctx.site, staff_id=staff_id, window_no=0, session_id=session, expires_at=expires, role=BACKOFFICE,
            department=department))
        return {"token": token, "staff_id": staff_id, "name": staff["name"], "role": BACKOFFICE,
                "department": department, "expires_in_s": TOKEN_TTL_S}

    async def authorize(self, claims: ClerkClaims) -> ClerkClaims:
        """The claims of a back-office clerk whose session is live (403 for another role's token)."""
        if claims.role != BACKOFFICE:
            raise errors.Forbidden("需要后台科室人员的登录令牌 / a back-office clerk's token is required")
        async with self.ctx.pool.acquire() as conn:
            live = await self.store.staff_session_live(conn, claims.session_id, claims.staff_id, BACKOFFICE)
        if not live:
            raise errors.Unauthorized("登录已失效，请重新登录 / this session has ended: sign in again")
        return claims

    async def sign_out(self, claims: ClerkClaims) -> dict[str, Any]:
        """End this back-office session: its token is refused by every service of the site from now on."""
        async with self.ctx.pool.acquire() as conn, conn.transaction():
            ended = await self.ctx.end_staff_sessions(conn, claims.staff_id, "signed_out",
                                                      session_id=claims.session_id)
        return {"staff_id": claims.staff_id, "session_ended": bool(ended)}

    async def me(self, claims: ClerkClaims) -> dict[str, Any]:
        """Who the live session is: staff id, name and department (the back-office screen checks its token)."""
        async with self.ctx.pool.acquire() as conn:
            staff = await self.ctx.store.staff(conn, claims.staff_id)
        return {"staff_id": claims.staff_id, "name": staff["name"] if staff else None, "role": BACKOFFICE,
                "department": claims.department, "expires_at": claims.expires_at}
