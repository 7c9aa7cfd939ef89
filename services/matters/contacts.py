"""The applicant's phone, from the case to the site's notify service (一次性告知, 领取 and 一事一评 SMS).

The phone never goes on the event stream: it travels inside the site as a core NATS request on
``svc.<site>.notify.contacts`` (``shared.events.notify.ContactRequest``), which the leaf server never forwards to
central. Reliable all the same: accepting a case with a phone writes a ``contact_handover`` row in the case's
transaction (the phone itself stays sealed in the case row); this loop sends each waiting row (a request with a
timeout) and deletes it once notify has answered that it holds the contact. Notify down, NATS away, no answer:
the row stays and is asked again the next round (notify's registration is idempotent, so a repeat after a lost
answer changes nothing). A number notify refuses for good is kept, marked, and not asked again.

Log lines carry the case id, attempts and error codes or exception types: never the phone, nor an exception's
text."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import nats.errors
from pydantic import ValidationError

from services.matters.app import MattersApp
from services.matters.crypto import CannotDecrypt
from shared.bus import Bus
from shared.events.notify import ContactReply, ContactRequest, contacts_subject
from shared.logging import get_logger

log = get_logger("matters.contacts")
BATCH = 100


def _worth_logging(attempts: int) -> bool:
    """A handover failing every round while notify is down: log the 1st, 10th, 100th … failure of a row."""
    return attempts in (1, 10) or attempts % 100 == 0


async def hand_over_contacts(app: MattersApp, bus: Bus, timeout_s: float) -> int:
    """Send every waiting phone to notify, oldest first; returns how many notify now holds. The round stops at the
    first request without an answer (notify down, NATS away): the rest wait for the next round."""
    async with app.pool.acquire() as conn:
        waiting = await app.store.contact_handovers(conn, BATCH)
    handed = 0
    for row in waiting:
        case_id, attempts = row["case_id"], row["attempts"] + 1
        try:
            phone = app.box.open(bytes(row["applicant_phone"]), f"case:{case_id}:phone")
        except CannotDecrypt:  # a key lost in a rotation: nothing to hand over, ever
            await _failed(app, case_id, "cannot_decrypt", attempts, refused=True)
            continue
        request = ContactRequest(ref_type="case", ref_id=case_id, phone=phone)
        try:
            if bus.nc is None:
                raise nats.errors.ConnectionClosedError
            msg = await bus.nc.request(contacts_subject(app.site), request.model_dump_json().encode(),
                                       timeout=timeout_s)
            reply = ContactReply.model_validate_json(msg.data)
        except (nats.errors.Error, TimeoutError, OSError, ValidationError) as exc:
            await _failed(app, case_id, type(exc).__name__, attempts, refused=False)
            break
        if reply.error is not None:
            await _failed(app, case_id, reply.error, attempts, refused=not reply.retry)
            if reply.retry:
                break
            continue
        async with app.pool.acquire() as conn:
            await app.store.contact_handed_over(conn, case_id)
        handed += 1
        log.info("contact_handed_over", case_id=str(case_id), contact_id=str(reply.id), attempts=attempts)
    return handed


async def _failed(app: MattersApp, case_id: uuid.UUID, error: str, attempts: int, *, refused: bool) -> None:
    async with app.pool.acquire() as conn:
        await app.store.contact_handover_failed(conn, case_id, error, app.now(), refused=refused)
    if refused:  # kept in contact_handover (refused, last_error) for whoever looks into it
        log.warning("contact_handover_refused", case_id=str(case_id), error=error)
    elif _worth_logging(attempts):
        log.warning("contact_handover_waiting", case_id=str(case_id), error=error, attempts=attempts)


async def contacts_loop(app: MattersApp, bus: Bus, interval_s: float, timeout_s: float) -> None:
    """Hand over waiting phones at once after a case is stored (``app.contacts_waiting``), and every
    ``interval_s`` while some wait."""
    while True:
        app.contacts_waiting.clear()
        try:
            await hand_over_contacts(app, bus, timeout_s)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("contact_handover_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await app.contacts_waiting.wait()
