"""HTTP routes of the hall manager's side (大厅负责人): sign in without a window, staff, AB roles (AB角), windows and
the queues each serves (科室柜员制), forced sign-out (强制签退). Thin: the use cases and rules are ``manager.py``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from services.queue.app import QueueApp
from shared.auth import ClerkClaims
from shared.http import StrictIn, clerk_claims, state_dependency

router = APIRouter(prefix="/queue/api/v1")


class ManagerSignIn(StrictIn):
    staff_id: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)


class StaffIn(StrictIn):
    staff_id: str = Field(pattern=r"^[A-Za-z0-9_-]{2,32}$")
    name: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=6, max_length=128)
    manager: bool = False


class StaffPatch(StrictIn):
    name: str | None = Field(None, min_length=1, max_length=32)
    password: str | None = Field(None, min_length=6, max_length=128)
    active: bool | None = None


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


@router.post("/manager/sign-in")
async def manager_sign_in(body: ManagerSignIn, app: App) -> dict[str, Any]:
    return await app.manager.sign_in(body.staff_id, body.password)


@router.post("/manager/sign-out")
async def manager_sign_out(app: App, claims: Manager) -> dict[str, Any]:
    """End this duty manager's session: its token is refused by every service of the site from now on."""
    return await app.manager.sign_out(claims)


@router.get("/staff")
async def list_staff(app: App, _: Manager) -> list[dict[str, Any]]:
    return await app.manager.list_staff()


@router.post("/staff", status_code=201)
async def add_staff(body: StaffIn, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.add_staff(body.staff_id, body.name, body.password, body.manager)


@router.patch("/staff/{staff_id}")
async def change_staff(staff_id: str, body: StaffPatch, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.change_staff(staff_id, name=body.name, password=body.password, active=body.active)


@router.post("/windows/{no}/end-session")
async def end_window_session(no: int, app: App, claims: Manager, body: EndSessionIn | None = None) -> dict[str, Any]:
    """强制签退: end the session of a window whose clerk left without signing out, so the B role can sign in;
    the clerk's token is refused by every service from then on, a ticket at the window goes back to the line."""
    return await app.windows.end_session(claims, no, body.reason if body else None)


@router.put("/windows/{no}/roles")
async def set_roles(no: int, body: RolesIn, app: App, _: Manager) -> dict[str, Any]:
    """Replace the window's AB roles: one A, one or more B, all different people (杜绝空窗)."""
    return await app.manager.set_roles(no, body.a, body.b)


@router.patch("/windows/{no}")
async def change_window(no: int, body: WindowPatch, app: App, _: Manager) -> dict[str, Any]:
    return await app.manager.change_window(no, name=body.name, queues=body.queues)
