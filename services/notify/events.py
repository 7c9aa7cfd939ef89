"""Site events the notify service consumes: one handler per event type, each run by the EventConsumer in the
event's inbox transaction (``shared/consumer.py``). A handler records what the reminders watch (tickets waiting,
cases ready for pickup), wakes the turn-approaching check, and queues the SMS the event asks for."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

import asyncpg

from services.notify import domain as d
from services.notify.app import NotifyApp
from shared.consumer import Handler
from shared.events import matters as mev
from shared.events import queue as qev
from shared.events import ratings as rev
from shared.events.base import Envelope, EventData
from shared.logging import get_logger

log = get_logger("notify")
# messages still worth sending to a phone registered after their event (not "you are called" — stale by then — nor
# reminders, which have their own schedule): a ticket's shortly after (NotifySettings.notify_late_contact_s), a
# case's within a day (its phone comes from the matters service, maybe late: notify_late_case_contact_s)
LATE_CONTACT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "ticket": ("ticket_issued",),
    "case": ("materials_missing", "ready_for_pickup", "ready_for_pickup_any_day", "rating_invite"),
}


async def ask_for_sms(app: NotifyApp, conn: asyncpg.Connection, env: Envelope, ref_type: str, ref_id: str,
                      template: str, variables: dict[str, object], now: datetime) -> None:
    """Queue the event's SMS for every contact of the ref; without one, keep a late-contact template for a phone
    registered after (``NotifyApp.register_contact``, which takes the same lock on the ref)."""
    late = template in LATE_CONTACT_TEMPLATES.get(ref_type, ())
    if late:
        await app.store.lock_ref(conn, ref_type, ref_id)
    created = await app.queue_messages(conn, ref_type, ref_id, template, variables, str(env.id), env.id, now)
    if not created and late:  # no phone yet: keep it for a contact on its way
        await app.store.hold_unclaimed(conn, ref_type, ref_id, template, env.id, variables, now)
    if created:
        log.info("sms_queued", event_type=env.type, template=template, ref_id=ref_id, messages=created)


async def on_ticket_issued(app: NotifyApp, conn: asyncpg.Connection, env: Envelope, data: qev.TicketIssued) -> None:
    now = app.now()
    await app.store.watch_ticket(conn, str(data.ticket_id), data.number, data.ahead, now)
    app.approach_wake.set()  # someone moved up: look at the waiting tickets again (after this commit)
    await ask_for_sms(app, conn, env, "ticket", str(data.ticket_id), "ticket_issued",
                      d.ticket_issued_vars(data.number, data.ahead, data.estimated_wait_s), now)


async def on_ticket_called(app: NotifyApp, conn: asyncpg.Connection, env: Envelope, data: qev.TicketCalled) -> None:
    now = app.now()
    app.approach_wake.set()
    if data.call_no != 1:  # a recall (重呼) is for the hall's display and voice, not another SMS
        return
    await ask_for_sms(app, conn, env, "ticket", str(data.ticket_id), "ticket_called",
                      {"number": data.number, "window_no": data.window_no}, now)


async def on_queue_snapshot(app: NotifyApp, conn: asyncpg.Connection, env: Envelope, data: qev.QueueSnapshot
                            ) -> None:
    app.approach_wake.set()


async def on_materials_missing(app: NotifyApp, conn: asyncpg.Connection, env: Envelope,
                               data: mev.CaseMaterialsMissing) -> None:
    await ask_for_sms(app, conn, env, "case", str(data.case_id), "materials_missing",
                      {"count": max(1, len(data.missing))}, app.now())


async def on_ready_for_pickup(app: NotifyApp, conn: asyncpg.Connection, env: Envelope,
                              data: mev.CaseReadyForPickup) -> None:
    """待领取: the pickup reminder is scheduled, and the citizen told what to collect (领取), where, and until when
    (or on any working day)."""
    now = app.now()
    ready_at = env.occurred_at.astimezone(app.tz)
    remind_at = d.pickup_reminder_due(ready_at, app.settings.notify_pickup_reminder_days, app.calendar)
    await app.store.pickup_ready(conn, str(data.case_id), ready_at, remind_at, env.id, now)
    by = data.pickup_by
    day = by.astimezone(app.tz).date() if isinstance(by, datetime) else by
    template, variables = d.pickup_message(day if isinstance(day, date) else None, item=data.item,
                                           place=data.place or app.settings.site_name)
    await ask_for_sms(app, conn, env, "case", str(data.case_id), template, variables, now)


async def on_picked_up(app: NotifyApp, conn: asyncpg.Connection, env: Envelope, data: mev.CasePickedUp) -> None:
    await app.store.picked_up(conn, str(data.case_id), env.id, app.now())


async def on_invitation_opened(app: NotifyApp, conn: asyncpg.Connection, env: Envelope,
                               data: rev.InvitationOpened) -> None:
    url = f"{app.settings.public_base_url}/r/{data.invitation_id}"
    await ask_for_sms(app, conn, env, data.subject, str(data.subject_id), "rating_invite", {"url": url}, app.now())


HANDLERS: dict[type[EventData], Callable[[NotifyApp, asyncpg.Connection, Envelope, Any], Awaitable[None]]] = {
    qev.TicketIssued: on_ticket_issued, qev.TicketCalled: on_ticket_called, qev.QueueSnapshot: on_queue_snapshot,
    mev.CaseMaterialsMissing: on_materials_missing, mev.CaseReadyForPickup: on_ready_for_pickup,
    mev.CasePickedUp: on_picked_up, rev.InvitationOpened: on_invitation_opened,
}


def handlers(app: NotifyApp) -> dict[type[EventData], Handler]:
    """The events that can ask for an SMS or change what is watched, each with its handler bound to ``app``."""
    return {event_type: functools.partial(handler, app) for event_type, handler in HANDLERS.items()}
