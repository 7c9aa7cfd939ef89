"""The contact handover inside the site: ``svc.<site>.notify.contacts`` (core NATS request/reply, a queue group of
every notify process of the site; never JetStream, never federated: the leaf denies ``svc.>`` both ways).

The matters service sends the applicant's phone of each case here (``{ref_type: "case", ref_id, phone}``) until
notify answers ``{id, phone_masked}``; registering is idempotent (the same ref and phone is one contact), so a
request repeated after a lost reply changes nothing. A refusal answers ``{error, message}`` (``retry`` true for a
passing failure, e.g. the database away). Neither the payload nor an exception text is ever logged: ids, error
codes and exception types only."""

from __future__ import annotations

import asyncpg
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from services.notify.app import NotifyApp
from shared import errors
from shared.events.notify import CONTACTS_QUEUE_GROUP, ContactReply, ContactRequest, contacts_subject
from shared.logging import get_logger

log = get_logger("notify")


async def answer(app: NotifyApp, data: bytes) -> ContactReply:
    """Register the contact a request carries; the reply says what happened, never with the phone."""
    try:
        req = ContactRequest.model_validate_json(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "body" for e in exc.errors()})
        log.warning("contact_request_invalid", fields=fields)
        return ContactReply(error="invalid_request", message=f"请求有误 / invalid request: {', '.join(fields)}")
    try:
        contact = await app.register_contact(req.ref_type, req.ref_id, req.phone)
    except errors.HallnetError as exc:  # e.g. InvalidPhone: its message never repeats the number
        log.warning("contact_request_refused", ref_type=req.ref_type, ref_id=str(req.ref_id), error=exc.code)
        return ContactReply(error=exc.code, message=exc.message)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("contact_request_failed", ref_type=req.ref_type, ref_id=str(req.ref_id),
                    error=type(exc).__name__)
        return ContactReply(error="unavailable", message="短信服务暂时不可用，请稍后再试 / notify cannot store the "
                                                         "contact now: ask again later", retry=True)
    return ContactReply(id=contact["id"], phone_masked=contact["phone_masked"])


async def serve_contacts(app: NotifyApp, nc: NATS) -> Subscription:
    """Answer ``svc.<site>.notify.contacts`` in the queue group ``notify`` (one process of the site per request)."""

    async def on_request(msg: Msg) -> None:
        try:
            reply = await answer(app, msg.data)
        except Exception as exc:  # noqa: BLE001 - nats-py would log the exception's text, which might hold the phone
            log.error("contact_request_crashed", error=type(exc).__name__)
            reply = ContactReply(error="internal", message="短信服务内部错误 / notify failed: ask again later",
                                 retry=True)
        if msg.reply:
            await msg.respond(reply.model_dump_json(exclude_none=True).encode())

    return await nc.subscribe(contacts_subject(app.site), queue=CONTACTS_QUEUE_GROUP, cb=on_request)
