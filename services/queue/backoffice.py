"""Use cases of back-office staff (后台/科室): 前台受理, 后台办理 — the windows accept cases, the departments behind
them process them. A back-office clerk signs in with staff id and password, bound to no window; the token says
``role: backoffice``, window 0 and the staff member's department (科室, as the matters catalog names it), and the
matters service lets it act on the cases of that department. Sessions work as the duty manager's (``manager.py``):
live until signed out, deactivated, moved to another department, or expired; each end is ``queue.session.ended``,
so every service of the site refuses the token from then on."""

from __future__ import annotations

from typing import Any

from services.queue import domain as d
from services.queue.context import QueueContext
from services.queue.manager import BACKOFFICE
from shared.auth import TOKEN_TTL_S, ClerkClaims


class BackOfficeCases:
    def __init__(self, ctx: QueueContext) -> None:
        self.ctx = ctx
        self.store = ctx.site_store

    async def sign_in(self, staff_id: str, password: str) -> dict[str, Any]:
        """A token for the staff member's department (401 for a wrong password, 403 without a department)."""
        staff = await self.ctx.checked_staff(staff_id, password)
        department = d.backoffice_department(staff_id, staff["backoffice"])
        token = await self.ctx.open_staff_session(staff_id, BACKOFFICE, department)
        return {"token": token, "staff_id": staff_id, "name": staff["name"], "role": BACKOFFICE,
                "department": department, "expires_in_s": TOKEN_TTL_S}

    async def authorize(self, claims: ClerkClaims) -> ClerkClaims:
        """The claims of a back-office clerk whose session is live (403 for another role's token)."""
        return await self.ctx.live_staff_session(claims, BACKOFFICE,
                                                 "需要后台科室人员的登录令牌 / a back-office clerk's token is required")

    async def sign_out(self, claims: ClerkClaims) -> dict[str, Any]:
        """End this back-office session: its token is refused by every service of the site from now on."""
        return await self.ctx.end_own_session(claims)

    async def me(self, claims: ClerkClaims) -> dict[str, Any]:
        """Who the live session is: staff id, name and department (the back-office screen checks its token)."""
        async with self.ctx.pool.acquire() as conn:
            staff = await self.ctx.store.staff(conn, claims.staff_id)
        return {"staff_id": claims.staff_id, "name": staff["name"] if staff else None, "role": BACKOFFICE,
                "department": claims.department, "expires_at": claims.expires_at}
