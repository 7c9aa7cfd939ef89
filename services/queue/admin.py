"""HTTP routes of the hall manager's side (大厅负责人): sign in without a window, staff, AB roles (AB角), windows and
the queues each serves (科室柜员制), forced sign-out (强制签退); and the back office's sign-in (后台/科室).
Thin: the use cases and rules are ``manager.py`` and ``backoffice.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from services.queue.app import QueueApp
from shared.auth import ClerkClaims
from shared.http import StrictIn, WindowNo, clerk_claims, state_dependency

router = APIRouter(prefix="/queue/api/v1")


class ManagerSignIn(StrictIn):
    staff_id: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


# a department (科室) as the matters catalog names it, e.g. 工伤保险科; the matters service decides what it may do
Department = Annotated[str, Field(min_length=2, max_length=30)]


class StaffIn(StrictIn):
    staff_id: str = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$")
    name: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=6, max_length=128)
    manager: bool = False
    backoffice: Department | None = None  # 后台科室: may sign in to the back office for this department


class StaffPatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=32)
    password: str | None = Field(None, min_length=6, max_length=128)
    active: bool | None = None
    backoffice: Department | None = None  # another department; null: out of the back office; absent: unchanged


class RolesIn(StrictIn):
    a: str = Field(min_length=1, max_length=32)  # A角: the window's own clerk
    b: list[str] = Field(min_length=1, max_length=5)  # B角: stand-ins, so the window is never left empty


class WindowPatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=32)
    queues: list[str] | None = Field(None, min_length=1, max_length=10)  # prefixes in preference order


class EndSessionIn(StrictIn):
    reason: str | None = Field(None, max_length=200)


App = Annotated[QueueApp, Depends(state_dependency("queue"))]


async def manager(request: Request, app: App) -> ClerkClaims:
    """FastAPI dependency: the claims of a hall manager whose session is live (403 for a clerk's token)."""
    return await app.manager.authorize(await clerk_claims(request))


Manager = Annotated[ClerkClaims, Depends(manager)]


async def backoffice(request: Request, app: App) -> ClerkClaims:
    """FastAPI dependency: the claims of a back-office clerk whose session is live (403 for another token)."""
    return await app.backoffice.authorize(await clerk_claims(request))


BackOffice = Annotated[ClerkClaims, Depends(backoffice)]


@router.post("/manager/sign-in")
async def manager_sign_in(body: ManagerSignIn, app: App) -> dict[str, Any]:
    return await app.manager.sign_in(body.staff_id, body.password)


@router.post("/manager/sign-out")
async def manager_sign_out(app: App, claims: Manager) -> dict[str, Any]:
    """End this duty manager's session: its token is refused by every service of the site from now on."""
    return await app.manager.sign_out(claims)


@router.post("/staff/sign-in")
async def backoffice_sign_in(body: ManagerSignIn, app: App) -> dict[str, Any]:
    """后台登录: a back-office clerk's token, bound to no window, for their department (``role: backoffice``,
    ``department``); 401 for a wrong password, 403 for staff without a back-office department."""
    return await app.backoffice.sign_in(body.staff_id, body.password)


@router.post("/staff/sign-out")
async def backoffice_sign_out(app: App, claims: BackOffice) -> dict[str, Any]:
    """End this back-office session: its token is refused by every service of the site from now on."""
    return await app.backoffice.sign_out(claims)


@router.get("/staff/me")
async def backoffice_me(app: App, claims: BackOffice) -> dict[str, Any]:
    """The back-office clerk of a live session: staff id, name, department (401 once it has ended)."""
    return await app.backoffice.me(claims)


@router.get("/staff")
async def list_staff(app: App, _: Manager) -> list[dict[str, Any]]:
    return await app.manager.list_staff()


@router.post("/staff", status_code=201)
async def add_staff(body: StaffIn, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.add_staff(body.staff_id, body.name, body.password, body.manager, body.backoffice)


@router.patch("/staff/{staff_id}")
async def change_staff(staff_id: str, body: StaffPatch, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.change_staff(staff_id, name=body.name, password=body.password, active=body.active,
                                          backoffice=body.backoffice,
                                          set_backoffice="backoffice" in body.model_fields_set)


@router.post("/windows/{no}/end-session")
async def end_window_session(no: WindowNo, app: App, claims: Manager,
                             body: EndSessionIn | None = None) -> dict[str, Any]:
    """强制签退: end the session of a window whose clerk left without signing out, so the B role can sign in;
    the clerk's token is refused by every service from then on, a ticket at the window goes back to the line."""
    return await app.windows.end_session(claims, no, body.reason if body else None)


@router.put("/windows/{no}/roles")
async def set_roles(no: WindowNo, body: RolesIn, app: App, _: Manager) -> dict[str, Any]:
    """Replace the window's AB roles: one A, one or more B, all different people (杜绝空窗)."""
    return await app.manager.set_roles(no, body.a, body.b)


@router.patch("/windows/{no}")
async def change_window(no: WindowNo, body: WindowPatch, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.change_window(no, name=body.name, queues=body.queues)
