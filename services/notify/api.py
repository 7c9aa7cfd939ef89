"""HTTP routes of the notify service (thin). Registering a contact is open (the kiosk or the window asks the
citizen for the number); answers show the number masked only. Listing messages needs a clerk or manager token
of this site; delivery receipts from the SMS provider need the shared receipt token."""

from __future__ import annotations

import base64
import hmac
import json
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from services.notify.app import NotifyApp
from shared import errors
from shared.auth import ClerkClaims, InvalidToken, verify_token
from shared.http import StrictIn, state_dependency

PREFIX = "/notify/api/v1"
router = APIRouter(prefix=PREFIX)


class ContactIn(StrictIn):
    ref_type: Literal["ticket", "case"]
    ref_id: uuid.UUID
    phone: str = Field(min_length=1, max_length=20)


async def staff(request: Request) -> ClerkClaims:
    """A staff token of this site (window clerk, back office, manager): 401 without a valid one or for a session
    ended at this site (shared/sessions.py), 403 for a token of another site."""
    s = request.app.state.notify.settings
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise errors.Unauthorized("需要工作人员登录令牌 / a clerk or manager token is required "
                                  "(Authorization: Bearer …)")
    token = auth[7:].strip()
    try:
        claims = verify_token(s.token_secret, token, site=s.site)
    except InvalidToken as exc:
        other = _claimed_site(token)
        if other is not None and other != s.site:
            raise errors.Forbidden(f"这是{other}大厅的令牌 / a token of another site") from exc
        raise errors.Unauthorized(f"令牌无效 / invalid token: {exc}") from exc
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and claims.session_id in runtime.ended_sessions:
        raise errors.Unauthorized("登录已失效，请重新登录 / this session has ended (signed out): sign in again")
    return claims


def _claimed_site(token: str) -> str | None:
    """The site a token says it is for (unverified: only to tell 403 from 401)."""
    try:
        body = token.split(".")[0]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        site = data.get("site") if isinstance(data, dict) else None
    except (ValueError, IndexError):
        return None
    return site if isinstance(site, str) else None


App = Annotated[NotifyApp, Depends(state_dependency("notify"))]
Staff = Annotated[ClerkClaims, Depends(staff)]


@router.post("/contacts", status_code=201)
async def register_contact(body: ContactIn, app: App) -> dict[str, Any]:
    """A phone to notify about a ticket or a case; stored sealed, kept for the retention period."""
    return await app.register_contact(body.ref_type, body.ref_id, body.phone)


@router.get("/messages")
async def list_messages(app: App, _staff: Staff,
                        ref_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 200) -> list[dict[str, Any]]:
    """The messages of a ticket or a case (without ``ref_id``: the site's latest), oldest first:
    [{id, template, text, parts, status, phone_masked, …, delivery}]. Clerk or manager token of this site."""
    return await app.messages(ref_id, limit)


# --- delivery receipts (回执) -------------------------------------------------------------------------
def check_receipt_token(request: Request) -> None:
    expected = request.app.state.notify.settings.notify_receipt_token
    if not expected:
        raise errors.NotFound("未启用短信回执 / delivery receipts are not configured (HALLNET_NOTIFY_RECEIPT_TOKEN)")
    given = request.query_params.get("token") or request.headers.get("x-hallnet-receipt-token") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise errors.Unauthorized("回执令牌无效 / wrong receipt token")


ReceiptToken = Annotated[None, Depends(check_receipt_token)]


class AliyunReport(BaseModel):
    """One entry of Aliyun's SmsReport (phone_number and the texts are ignored, never stored)."""

    model_config = ConfigDict(extra="ignore")
    biz_id: str = Field(min_length=1, max_length=100)
    success: bool
    err_code: str | None = Field(None, max_length=100)


class TencentReport(BaseModel):
    """One entry of Tencent's status callback (``sid`` is the SerialNo; mobile is ignored, never stored)."""

    model_config = ConfigDict(extra="ignore")
    sid: str = Field(min_length=1, max_length=100)
    report_status: str = Field(max_length=20)
    errmsg: str | None = Field(None, max_length=100)


class WebhookReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(min_length=1, max_length=100)
    status: Literal["delivered", "undelivered"]
    code: str | None = Field(None, max_length=100)


@router.post("/receipts/aliyun")
async def aliyun_receipts(body: list[AliyunReport], app: App, _t: ReceiptToken) -> dict[str, Any]:
    """Aliyun SmsReport push (a JSON list); answers ``{code: 0, msg}`` as Aliyun expects."""
    result = await app.receipts("aliyun", [(r.biz_id, r.success, None if r.success else (r.err_code or "FAIL"))
                                           for r in body])
    return {"code": 0, "msg": "成功", **result}


@router.post("/receipts/tencent")
async def tencent_receipts(body: list[TencentReport], app: App, _t: ReceiptToken) -> dict[str, Any]:
    """Tencent SMS status callback (a JSON list); answers ``{result: 0, errmsg: "OK"}`` as Tencent expects."""
    items = [(r.sid, r.report_status.upper() == "SUCCESS",
              None if r.report_status.upper() == "SUCCESS" else (r.errmsg or r.report_status)) for r in body]
    result = await app.receipts("tencent", items)
    return {"result": 0, "errmsg": "OK", **result}


@router.post("/receipts/webhook")
async def webhook_receipts(body: list[WebhookReport], app: App, _t: ReceiptToken) -> dict[str, Any]:
    """Receipts of the webhook gateway: ``[{message_id (the id it answered), status, code?}]``."""
    return await app.receipts("webhook", [(r.message_id, r.status == "delivered", r.code) for r in body])


PAGE = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")


@router.get("/page", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The demo page (已发短信): asks for a staff token and lists the site's messages with it."""
    return HTMLResponse(PAGE)
