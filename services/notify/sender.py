"""The sender: due messages one at a time, after the commit that queued them. Each is sent, deferred (quiet
hours, the minimum interval) or failed in one transaction that holds the message's row lock during the provider
call (a crash leaves it pending, and the retry carries the same message id for the provider to de-duplicate);
``notify.sms.sent`` / ``failed`` go through the outbox and never carry the phone."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notify import domain as d
from services.notify.app import SEND_CHANNEL, NotifyApp
from services.notify.crypto import CannotDecrypt
from services.notify.providers import OutgoingSms, ProviderError
from shared.clock import iso
from shared.events import notify as nev
from shared.events.base import Envelope, make_event
from shared.logging import get_logger
from shared.outbox import add_to_outbox

log = get_logger("notify")


async def send_next(app: NotifyApp) -> bool:
    """Handle one due message (send, defer or fail it); False when none is due."""
    async with app.pool.acquire() as conn, conn.transaction():
        row = await app.store.claim_due(conn, app.now())
        if row is None:
            return False
        await _handle(app, conn, row)
    return True


async def _handle(app: NotifyApp, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
    now = app.now()
    mid, template = row["id"], row["template"]
    same, last = await app.store.phone_history(conn, bytes(row["phone_hash"]), template, now)
    decision = d.decide(d.TEMPLATES[template], now, sent_same_template_24h=same, last_sent_at=last,
                        limits=app.limits, quiet=app.quiet)
    if decision.action == "defer" and decision.until is not None:
        await app.store.update_message(conn, mid, next_attempt_at=decision.until, deferred_reason=decision.reason)
        log.info("sms_deferred", message_id=str(mid), template=template, reason=decision.reason,
                 until=iso(decision.until.astimezone(app.tz)))
        return
    if decision.action == "refuse":
        await _fail(app, conn, row, decision.reason or "refused", attempts=row["attempts"], now=now)
        return
    if row["phone"] is None:
        await _fail(app, conn, row, "expired", attempts=row["attempts"], now=now)
        return
    try:
        phone = app.box.open(bytes(row["phone"]), f"message:{mid}:phone")
    except CannotDecrypt:
        await _fail(app, conn, row, "cannot_decrypt", attempts=row["attempts"], now=now)
        return
    attempts = row["attempts"] + 1
    sms = OutgoingSms(message_id=mid, phone=phone, text=row["text"], template=template,
                      signature=app.signature, parts=row["parts"], variables=dict(row["variables"] or {}))
    try:
        provider_msg_id = await app.provider.send(sms)
    except ProviderError as exc:
        await _provider_failed(app, conn, row, exc.code, exc.transient, attempts, now)
        return
    except Exception as exc:  # a provider bug: recorded and retried like a transient error, never lost
        log.exception("sms_provider_error", message_id=str(mid), error=type(exc).__name__)
        await _provider_failed(app, conn, row, "provider_error", True, attempts, now)
        return
    await app.store.update_message(conn, mid, status="sent", attempts=attempts, sent_at=now, finished_at=now,
                                   error_code=None, provider=app.provider.name, provider_msg_id=provider_msg_id)
    await add_to_outbox(conn, _event(app, nev.SmsSent, row, now))
    log.info("sms_sent", message_id=str(mid), template=template, ref_id=row["ref_id"], parts=row["parts"],
             provider=app.provider.name, attempt=attempts)


async def _provider_failed(app: NotifyApp, conn: asyncpg.Connection, row: asyncpg.Record, code: str,
                           transient: bool, attempts: int, now: datetime) -> None:
    """Retry with exponential backoff while attempts remain and the error is transient; else fail for good."""
    if transient and attempts < app.settings.notify_max_attempts:
        delay = d.retry_delay_s(attempts, app.settings.notify_retry_base_s)
        await app.store.update_message(conn, row["id"], attempts=attempts, error_code=code,
                                       provider=app.provider.name, next_attempt_at=now + timedelta(seconds=delay))
        await add_to_outbox(conn, _event(app, nev.SmsFailed, row, now, error_code=code, final=False))
        log.warning("sms_retry", message_id=str(row["id"]), template=row["template"], attempt=attempts,
                    error_code=code, retry_in_s=delay)
        return
    await _fail(app, conn, row, code, attempts=attempts, now=now)


async def _fail(app: NotifyApp, conn: asyncpg.Connection, row: asyncpg.Record, code: str, *, attempts: int,
                now: datetime) -> None:
    await app.store.update_message(conn, row["id"], status="failed", attempts=attempts, error_code=code,
                                   finished_at=now, provider=app.provider.name)
    await add_to_outbox(conn, _event(app, nev.SmsFailed, row, now, error_code=code, final=True))
    log.warning("sms_failed", message_id=str(row["id"]), template=row["template"], ref_id=row["ref_id"],
                error_code=code, attempts=attempts)


def _event(app: NotifyApp, cls: type[nev.SmsSent] | type[nev.SmsFailed], row: asyncpg.Record, at: datetime,
           error_code: str | None = None, final: bool = True) -> Envelope:
    ref_id: uuid.UUID | str = row["ref_id"]
    with contextlib.suppress(ValueError):
        ref_id = uuid.UUID(row["ref_id"])
    return make_event(app.site, cls(message_id=row["id"], template=row["template"], segments=row["parts"],
                                    ref_type=row["ref_type"], ref_id=ref_id, error_code=error_code,
                                    final=final), occurred_at=at)


async def send_loop(app: NotifyApp) -> None:
    """Send what is due; sleep until woken (a new message committed) or the poll interval passes."""
    listen: asyncpg.Connection | None = None

    def on_notify(*_: Any) -> None:
        app.wake.set()

    try:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            listen = await app.pool.acquire()
            await listen.add_listener(SEND_CHANNEL, on_notify)
        while True:
            app.wake.clear()
            while await send_next(app):
                pass
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(app.settings.notify_send_poll_s):
                    await app.wake.wait()
    finally:
        if listen is not None:
            with contextlib.suppress(Exception):
                await listen.remove_listener(SEND_CHANNEL, on_notify)
            with contextlib.suppress(Exception):
                await app.pool.release(listen)
