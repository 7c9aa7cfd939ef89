"""HTTP routes of the ratings service (thin: parse, call the use case, shape the answer).

The rating device (评价器/评价平板) at a window asks for the window's open invitation and submits the citizen's
rating without a token. A clerk's token is refused: nobody at the window may rate in the citizen's place
(不得代评、刷评)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from services.ratings import complaints, stats
from services.ratings.app import PREFIX, RatingsApp, scale_view
from shared import errors
from shared.auth import ClerkClaims
from shared.http import SaneDate, StrictIn, WindowNo, bearer_claims, clerk_claims, state_dependency
from shared.ratelimit import client_ip

router = APIRouter(prefix=PREFIX)


class RatingIn(StrictIn):
    level: int
    indicators: dict[Annotated[str, Field(max_length=24)], int] | None = Field(None, max_length=10)
    reasons: list[Annotated[str, Field(max_length=32)]] | None = Field(None, max_length=10)
    text: str | None = Field(None, max_length=2000)
    # additions: who submits. ``pad`` = a window's rating pad (评价器), with its ``window_no``; ``sms``/``web``
    # (the default) = the citizen's phone, from the link, bound to no window
    channel: Literal["pad", "sms", "web"] = "web"
    window_no: int | None = Field(None, ge=0, le=9999)


class NoteIn(StrictIn):
    note: str | None = Field(None, max_length=1000)


class RectifyIn(NoteIn):
    by: date | None = None  # 限期整改: promised by this day (at the latest the complaint's due day); absent: done now


class CloseIn(NoteIn):
    outcome: Literal["rectified", "explained"] | None = None  # if given, what the complaint closes as


App = Annotated[RatingsApp, Depends(state_dependency("ratings"))]
Staff = Annotated[ClerkClaims, Depends(clerk_claims)]


def refuse_clerks(request: Request, app: RatingsApp) -> None:
    """A request carrying a valid clerk token is refused (403); an invalid one is 401."""
    if "authorization" not in request.headers:
        return
    claims = bearer_claims(request, app.settings.token_secret, app.site)
    raise errors.Forbidden(f"工作人员不得代为评价 / staff may not rate a service (token of {claims.staff_id})")


@router.get("/scale")
async def scale(app: App) -> dict[str, Any]:
    """The site's scale: levels with labels, sub-indicators (服务效率/服务水平/服务态度), reason tags for 差评."""
    return scale_view(app.scale)


@router.get("/windows/{window_no}/invitation", responses={204: {"description": "nothing to rate now"}})
async def window_invitation(window_no: WindowNo, app: App) -> Any:
    """The open invitation of the window's latest completed service (within ``ratings_invitation_minutes``)."""
    found = await app.window_invitation(window_no)
    return found if found is not None else Response(status_code=204)


@router.get("/invitations/{invitation_id}", responses={429: {"description": "too many lookups (Retry-After)"}})
async def get_invitation(invitation_id: uuid.UUID, request: Request, app: App) -> dict[str, Any]:
    """The invitation as the phone page shows it (subject, scale, levels, indicators, reason tags, status)."""
    app.limits.lookup(client_ip(request, trust_forwarded_for=app.settings.ratings_trust_forwarded_for))
    return await app.get_invitation(invitation_id)


@router.post("/invitations/{invitation_id}/rating", status_code=201,
             responses={409: {"description": "already rated, expired, or not this pad's service"},
                        403: {"description": "a clerk's token"}, 429: {"description": "too many attempts"}})
async def rate(invitation_id: uuid.UUID, body: RatingIn, request: Request, app: App) -> dict[str, Any]:
    """The citizen's rating (一次一评 / 一事一评): 201, or 409 when the service was already rated. A pad
    (``channel: pad`` + ``window_no``) rates only its window's latest completed service, within
    ``ratings_invitation_minutes``."""
    app.limits.submit(client_ip(request, trust_forwarded_for=app.settings.ratings_trust_forwarded_for),
                      invitation_id)
    refuse_clerks(request, app)
    if body.channel == "pad" and body.window_no is None:
        raise errors.Unprocessable("评价器须提供窗口号 / a pad submission needs its window_no", field="window_no")
    return await app.rate(invitation_id, level=body.level, indicators=body.indicators, reasons=body.reasons,
                          text=body.text, pad_window_no=body.window_no if body.channel == "pad" else None)


@router.get("/chain/verify")
async def verify_chain(app: App) -> dict[str, Any]:
    """Recompute the hash chain: {ok, checked, broken_at} (broken_at: the first chain position that fails)."""
    return await app.verify_chain()


# --- bad-rating follow-up (差评整改) -------------------------------------------------------------------
STEP_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not this person's step (a clerk verifying or closing; the appellant reviewing)"},
    404: {"description": "no such complaint"},
    409: {"description": "the complaint is not in a state for this step"},
    422: {"description": "the step lacks a note or a sensible date"}}


@router.get("/complaints")
async def list_complaints(app: App, claims: Staff, status: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Complaints (one per bad rating), those to handle first (earliest due first), then closed ones. ``status``:
    one status, or ``active`` (not closed). Each with the rating (the citizen's words for a duty manager only),
    the due day in working days and ``next_actions`` (the steps the caller may take)."""
    return await complaints.list_(app, claims, status, limit)


@router.get("/complaints/{complaint_id}", responses={404: {"description": "no such complaint"}})
async def get_complaint(complaint_id: uuid.UUID, app: App, claims: Staff) -> dict[str, Any]:
    """One complaint with its log and ``next_actions`` (computed by the pure state machine for the caller)."""
    return await complaints.get(app, claims, complaint_id)


@router.post("/complaints/{complaint_id}/verify", responses=STEP_ERRORS)
async def verify_complaint(complaint_id: uuid.UUID, app: App, claims: Staff, body: NoteIn | None = None
                           ) -> dict[str, Any]:
    """回访核实 (duty manager): the citizen was called back and the facts checked."""
    return await complaints.act(app, claims, complaint_id, "verify", note=body.note if body else None)


@router.post("/complaints/{complaint_id}/rectify", responses=STEP_ERRORS)
async def rectify_complaint(complaint_id: uuid.UUID, app: App, claims: Staff, body: RectifyIn | None = None
                            ) -> dict[str, Any]:
    """整改 (the rated clerk or a duty manager): done now, or ``by`` a day (限期整改; report it done later)."""
    return await complaints.act(app, claims, complaint_id, "rectify", note=body.note if body else None,
                                rectify_by=body.by if body else None)


@router.post("/complaints/{complaint_id}/explain", responses=STEP_ERRORS)
async def explain_complaint(complaint_id: uuid.UUID, app: App, claims: Staff, body: NoteIn | None = None
                            ) -> dict[str, Any]:
    """解释说明 (the rated clerk or a duty manager): why it cannot be fixed, in the ``note``."""
    return await complaints.act(app, claims, complaint_id, "explain", note=body.note if body else None)


@router.post("/complaints/{complaint_id}/appeal", responses=STEP_ERRORS)
async def appeal_complaint(complaint_id: uuid.UUID, app: App, claims: Staff, body: NoteIn | None = None
                           ) -> dict[str, Any]:
    """申诉 (the rated clerk or a duty manager): the rating is mistaken or malicious, the reason in the ``note``.
    A second duty manager decides it (approve or reject)."""
    return await complaints.act(app, claims, complaint_id, "appeal", note=body.note if body else None)


@router.post("/complaints/{complaint_id}/approve", responses=STEP_ERRORS)
async def approve_appeal(complaint_id: uuid.UUID, app: App, claims: Staff, body: NoteIn | None = None
                         ) -> dict[str, Any]:
    """复核通过 (a duty manager other than the appellant and the rated clerk): the rating is voided by a new chain
    entry (the ``note`` as reason, the caller as approver) and the complaint closes ``voided``."""
    return await complaints.act(app, claims, complaint_id, "approve", note=body.note if body else None)


@router.post("/complaints/{complaint_id}/reject", responses=STEP_ERRORS)
async def reject_appeal(complaint_id: uuid.UUID, app: App, claims: Staff, body: NoteIn | None = None
                        ) -> dict[str, Any]:
    """复核驳回 (a duty manager other than the appellant): the rating stands, the follow-up goes on where it was."""
    return await complaints.act(app, claims, complaint_id, "reject", note=body.note if body else None)


@router.post("/complaints/{complaint_id}/close", responses=STEP_ERRORS)
async def close_complaint(complaint_id: uuid.UUID, app: App, claims: Staff, body: CloseIn | None = None
                          ) -> dict[str, Any]:
    """办结 (duty manager): a rectified or explained complaint closes as such."""
    return await complaints.act(app, claims, complaint_id, "close", note=body.note if body else None,
                                outcome=body.outcome if body else None)


# --- statistics ---------------------------------------------------------------------------------------
GroupBy = Literal["window", "staff", "day"]
From = Annotated[SaneDate, Query(alias="from")]


@router.get("/stats")
async def get_stats(app: App, start: From, to: SaneDate, group_by: GroupBy = "window") -> dict[str, Any]:
    """满意率 (好评 = 基本满意 and better, over standing ratings: given or defaulted, voided ones left out) and 参评率
    (standing citizen ratings over invitations) per window, clerk or day, for services completed from ``from`` to
    ``to`` (site days)."""
    rows = await stats.tallies(app, group_by, start, to)
    return {"group_by": group_by, "from": start.isoformat(), "to": to.isoformat(), "scale": app.scale.name,
            "rows": rows}


@router.get("/stats.csv", response_class=Response)
async def get_stats_csv(app: App, start: From, to: SaneDate, group_by: GroupBy = "window") -> Response:
    """The same as CSV (UTF-8 with BOM), for the monthly report."""
    rows = await stats.tallies(app, group_by, start, to)
    name = f"ratings-{app.site}-{group_by}-{start.isoformat()}-{to.isoformat()}.csv"
    return Response(stats.as_csv(group_by, rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
