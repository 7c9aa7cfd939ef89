"""Reading many cases: the case list (``GET /cases``, each with its deadline now: working days left and card, so
the console shows the accepting clerk's cards) and the back office's worklist (``GET /worklist``, 后台工作台: the
open cases of a department, most urgent first). Back-office staff see their own department's cases only."""

from __future__ import annotations

from typing import Any

from services.matters import domain as d
from services.matters.app import MattersApp
from services.matters.views import case_view, worklist_item
from shared.auth import ClerkClaims


def matters_of(app: MattersApp, department: str) -> list[str]:
    """The catalog's matters of a department (科室): its cases are the department's."""
    return [spec.id for spec in app.catalog if spec.department == department]


async def list_cases(app: MattersApp, claims: ClerkClaims, *, status: str | None, matter_id: str | None,
                     mine: bool, limit: int) -> list[dict[str, Any]]:
    """Newest first, masked, with ``remaining_working_days`` and ``card``; ``mine``: the ones this clerk accepted."""
    scope = matters_of(app, claims.department or "") if claims.role == d.BACKOFFICE else None
    now = app.now()
    async with app.pool.acquire() as conn:
        cal = await app.calendar(conn)
        rows = await app.store.cases(conn, status=status, matter_id=matter_id,
                                     owner_staff_id=claims.staff_id if mine else None, limit=limit, matter_ids=scope)
    out = []
    for r in rows:
        spec = app.catalog.get(r["matter_id"])
        if spec is not None:
            remaining, card = app.deadline_state(cal, now, r)
            out.append(case_view(r, spec, app.masked(r), app.tz, remaining=remaining, card=card))
    return out


async def worklist(app: MattersApp, claims: ClerkClaims, *, department: str | None,
                   limit: int) -> list[dict[str, Any]]:
    """A back office's open cases (a manager's: every department's, or the one asked), sorted by working days
    left: overdue first, then finished ones waiting for pickup, suspended ones (no due date) last."""
    shown = d.worklist_department(claims.role, claims.department, department)
    now = app.now()
    async with app.pool.acquire() as conn:
        cal = await app.calendar(conn)
        rows = await app.store.open_cases(conn, matters_of(app, shown) if shown else None, limit)
    items: list[tuple[tuple[int, int], str, dict[str, Any]]] = []
    for r in rows:
        spec = app.catalog.get(r["matter_id"])
        if spec is None:
            continue
        status = d.Status(r["status"])
        steps = d.next_steps(status, r["steps"], r["steps_done"], d.Result(r["result"]) if r["result"] else None,
                             spec.pickup is not None)
        if not steps:  # closed after all (approved with nothing to collect)
            continue
        remaining, card = app.deadline_state(cal, now, r)
        item = worklist_item(r, spec, app.masked(r), app.tz, remaining=remaining, card=card, next_steps=steps)
        items.append((d.worklist_rank(status, remaining), item["accepted_at"] or "", item))
    items.sort(key=lambda x: (x[0], x[1]))
    return [item for _, _, item in items]
