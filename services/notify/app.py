"""Use cases of the notify service.

Contacts are sealed before they reach the database. Site events become messages in the event's inbox
transaction, one per (event, template, phone) by a unique key; a sender sends due messages after commit,
one at a time, holding the message's row lock during the provider call (a crash leaves it pending, and the
retry carries the same message id for the provider to de-duplicate). ``notify.sms.sent``/``failed`` go
through the outbox and never carry the phone; log lines carry ids only."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from services.notify import domain as d
from services.notify.crypto import CannotDecrypt, DataBox
from services.notify.providers import OutgoingSms, Provider, ProviderError
from services.notify.queue_client import QueueClient
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore
from shared import errors
from shared.clock import iso
from shared.clock import now as clock_now
from shared.consumer import Handler
from shared.events import matters as mev
from shared.events import notify as nev
from shared.events import queue as qev
from shared.events import ratings as rev
from shared.events.base import Envelope, EventData, make_event
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox
from shared.workdays import WorkCalendar

log = get_logger("notify")
SEND_CHANNEL = "hallnet_notify_send"
# messages still worth sending to a phone registered a little after their event (not "you are called" — stale by
# then — nor reminders, which have their own schedule)
LATE_CONTACT_TEMPLATES = ("ticket_issued", "materials_missing")
ISSUED_GRACE = timedelta(minutes=2)  # after this, a ticket whose issued event was never seen is judged without it
EVENT_TYPES: tuple[type[EventData], ...] = (qev.TicketIssued, qev.TicketCalled, qev.QueueSnapshot,
                                           mev.CaseMaterialsMissing, mev.CaseReadyForPickup, mev.CasePickedUp,
                                           rev.InvitationOpened)


def as_http_error(exc: d.NotifyError) -> errors.HallnetError:
    err = errors.Unprocessable(exc.message)
    err.code = type(exc).__name__
    return err


class NotifyApp:
    def __init__(self, pool: asyncpg.Pool, settings: NotifySettings, box: DataBox, provider: Provider, *,
                 clock: Callable[[], datetime] | None = None, store: NotifyStore | None = None,
                 queue: QueueClient | None = None, calendar: WorkCalendar | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.site = settings.site
        self.tz = settings.tz
        self.box = box
        self.provider = provider
        self.signature = settings.signature
        self.limits = settings.limits
        self.quiet = settings.quiet_hours
        self.store = store or NotifyStore()
        self._clock = clock or (lambda: clock_now(self.tz))
        self.wake = asyncio.Event()
        self.approach_wake = asyncio.Event()
        self.queue = queue
        self.calendar = calendar or WorkCalendar()

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    # --- contacts ------------------------------------------------------------------------------------
    async def register_contact(self, ref_type: str, ref_id: uuid.UUID, phone_text: str) -> dict[str, Any]:
        try:
            phone = d.normalize_phone(phone_text)
        except d.NotifyError as exc:
            raise as_http_error(exc) from exc
        now = self.now()
        cid = uuid7()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.store.upsert_contact(conn, {
                "id": cid, "ref_type": ref_type, "ref_id": str(ref_id),
                "phone": self.box.seal(phone, f"contact:{ref_type}:{ref_id}:phone"),
                "phone_hash": self.box.lookup(phone), "phone_masked": d.mask_phone(phone), "created_at": now,
                "expires_at": now + timedelta(days=self.settings.notify_retention_days)})
            # the event asking for an SMS may have come first (the kiosk registers the phone after the ticket exists)
            late = await self.store.claim_unclaimed(conn, ref_type, str(ref_id),
                                                    now - timedelta(seconds=self.settings.notify_late_contact_s))
            queued = 0
            for u in late:
                queued += await self.queue_messages(conn, ref_type, str(ref_id), u["template"],
                                                    dict(u["variables"]), str(u["event_id"]), u["event_id"],
                                                    now)
        log.info("contact_registered", contact_id=str(row["id"]), ref_type=ref_type, ref_id=str(ref_id),
                 late_messages=queued)
        return {"id": str(row["id"]), "ref_type": ref_type, "ref_id": str(ref_id), "phone_masked": row["phone_masked"]}

    async def messages(self, ref_id: str | None, limit: int = 200) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await self.store.messages_for(conn, ref_id, limit)
        return [{"id": str(r["id"]), "template": r["template"], "text": r["text"], "parts": r["parts"],
                 "status": r["status"], "phone_masked": r["phone_masked"], "ref_type": r["ref_type"],
                 "ref_id": r["ref_id"], "attempts": r["attempts"], "error_code": r["error_code"],
                 "created_at": iso(r["created_at"].astimezone(self.tz)),
                 "sent_at": iso(r["sent_at"].astimezone(self.tz)) if r["sent_at"] else None,
                 "next_attempt_at": iso(r["next_attempt_at"].astimezone(self.tz)) if r["status"] == "pending"
                 else None, "delivery": r["delivery"], "delivery_code": r["delivery_code"],
                 "delivered_at": iso(r["delivered_at"].astimezone(self.tz)) if r["delivered_at"] else None}
                for r in rows]

    # --- events → messages ---------------------------------------------------------------------------
    def message_for(self, env: Envelope) -> tuple[str, str, str, dict[str, object]] | None:
        """(ref_type, ref_id, template, variables) for an event, or None when it asks for no SMS."""
        data = env.typed()
        if isinstance(data, qev.TicketIssued):
            return "ticket", str(data.ticket_id), "ticket_issued", d.ticket_issued_vars(
                data.number, data.ahead, data.estimated_wait_s)
        if isinstance(data, qev.TicketCalled):
            if data.call_no != 1:  # a recall (重呼) is for the hall's display and voice, not another SMS
                return None
            return "ticket", str(data.ticket_id), "ticket_called", {"number": data.number, "window_no": data.window_no}
        if isinstance(data, mev.CaseMaterialsMissing):
            return "case", str(data.case_id), "materials_missing", {"count": max(1, len(data.missing))}
        if isinstance(data, mev.CaseReadyForPickup):
            by = data.pickup_by
            day = by.astimezone(self.tz).date() if isinstance(by, datetime) else by
            template, variables = d.pickup_message(day if isinstance(day, date) else None)
            return "case", str(data.case_id), template, variables
        if isinstance(data, rev.InvitationOpened):
            url = f"{self.settings.public_base_url}/r/{data.invitation_id}"
            return data.subject, str(data.subject_id), "rating_invite", {"url": url}
        return None

    def handlers(self) -> dict[type[EventData], Handler]:
        """The events that can ask for an SMS or change what is watched (all handled by ``handle_event``)."""
        return dict.fromkeys(EVENT_TYPES, self.handle_event)

    async def handle_event(self, conn: asyncpg.Connection, env: Envelope, data: EventData) -> None:
        """EventConsumer handler: runs in the inbox transaction of ``env``."""
        now = self.now()
        if isinstance(data, qev.TicketIssued):
            await self.store.watch_ticket(conn, str(data.ticket_id), data.number, data.ahead, now)
        elif isinstance(data, mev.CaseReadyForPickup):
            ready_at = env.occurred_at.astimezone(self.tz)
            remind_at = d.pickup_reminder_due(ready_at, self.settings.notify_pickup_reminder_days,
                                              self.calendar.is_workday)
            await self.store.pickup_ready(conn, str(data.case_id), ready_at, remind_at, env.id, now)
        elif isinstance(data, mev.CasePickedUp):
            await self.store.picked_up(conn, str(data.case_id), env.id, now)
        if isinstance(data, qev.TicketIssued | qev.TicketCalled | qev.QueueSnapshot):
            self.approach_wake.set()  # someone moved up: look at the waiting tickets again (after this commit)
        wanted = self.message_for(env)
        if wanted is None:
            return
        ref_type, ref_id, template, variables = wanted
        created = await self.queue_messages(conn, ref_type, ref_id, template, variables, str(env.id), env.id, now)
        if not created and template in LATE_CONTACT_TEMPLATES:  # no phone yet: keep it for a contact on its way
            await self.store.hold_unclaimed(conn, ref_type, ref_id, template, env.id, variables, now)
        if created:
            log.info("sms_queued", event_type=env.type, template=template, ref_id=ref_id, messages=created)

    async def queue_messages(self, conn: asyncpg.Connection, ref_type: str, ref_id: str, template: str,
                             variables: dict[str, object], key: str, event_id: uuid.UUID, now: datetime) -> int:
        """One pending message per live contact of the ref, unique by ``<key>:<template>:<phone hash>``."""
        contacts = await self.store.contacts_for(conn, ref_type, ref_id, now)
        if not contacts:
            return 0
        text = d.signed(self.signature, d.render(template, variables))
        parts = d.count_parts(text)
        created = 0
        for c in contacts:
            phone = self.box.open(bytes(c["phone"]), f"contact:{ref_type}:{ref_id}:phone")
            mid = uuid7()
            created += await self.store.insert_message(conn, {
                "id": mid, "dedupe_key": f"{key}:{template}:{bytes(c['phone_hash']).hex()}", "event_id": event_id,
                "template": template, "ref_type": ref_type, "ref_id": ref_id,
                "phone": self.box.seal(phone, f"message:{mid}:phone"), "phone_hash": c["phone_hash"],
                "phone_masked": c["phone_masked"], "text": text, "parts": parts, "created_at": now,
                "variables": variables})
        if created:
            await conn.execute("SELECT pg_notify($1, '')", SEND_CHANNEL)
        return created

    # --- turn approaching (快到您了) ---------------------------------------------------------------------
    async def check_approaching(self) -> int:
        """Ask the queue service about every ticket with a contact whose turn-approaching SMS is undecided; queue
        the SMS once (unique key per ticket) when at most N are ahead. Returns the messages queued."""
        if self.queue is None:
            return 0
        async with self.pool.acquire() as conn:
            watched = await self.store.tickets_to_watch(conn, self.now())
        queued = 0
        for w in watched:
            ticket_id = w["ticket_id"]
            ticket = await self.queue.ticket(ticket_id)
            if ticket is None:  # the queue service cannot answer now: look again at the next wake-up
                break
            threshold = self.settings.notify_approach_ahead
            ahead = int(ticket.get("ahead") or 0)
            # the ticket's issued event (with its people ahead then) may still be on its way to this consumer
            overdue = self.now() - w["registered_at"] > ISSUED_GRACE
            decision = d.approach_decision(str(ticket.get("status")), ahead, w["issued_ahead"], threshold,
                                           issued_overdue=overdue)
            if decision == "wait":
                continue
            now = self.now()
            async with self.pool.acquire() as conn, conn.transaction():
                row = await self.store.lock_watch(conn, ticket_id, now)
                if row is None:  # decided meanwhile (another sender of this site)
                    continue
                # again under the lock: the issued event may have been applied since the first read
                decision = d.approach_decision(str(ticket.get("status")), ahead, row["issued_ahead"], threshold,
                                               issued_overdue=overdue)
                number = str(ticket.get("number") or row["number"] or "")
                if decision == "wait":
                    continue
                if decision == "skip" or not number:
                    await self.store.decide_watch(conn, ticket_id, "skipped", now)
                    continue
                created = await self.queue_messages(
                    conn, "ticket", ticket_id, "turn_approaching", {"number": number, "ahead": ahead},
                    f"approach:{ticket_id}", uuid.uuid5(uuid.NAMESPACE_URL, f"hallnet:approach:{ticket_id}"), now)
                await self.store.decide_watch(conn, ticket_id, "sent", now)
            queued += created
            log.info("sms_queued", event_type="turn_approaching", template="turn_approaching", ref_id=ticket_id,
                     messages=created, ahead=ahead)
        return queued

    async def approach_loop(self) -> None:
        while True:
            self.approach_wake.clear()
            try:
                await self.check_approaching()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("approach_check_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.notify_approach_poll_s):
                    await self.approach_wake.wait()
            await asyncio.sleep(0.2)  # several events in a burst: one look

    # --- not-yet-collected reminder (领取提醒) ---------------------------------------------------------
    async def remind_pickups(self) -> int:
        """Cases ready N working days ago and not picked up: one reminder each (quiet hours apply when sending)."""
        now = self.now()
        queued = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for p in await self.store.due_pickups(conn, now):
                queued += await self.queue_messages(
                    conn, "case", p["case_id"], "pickup_reminder",
                    {"days": self.settings.notify_pickup_reminder_days}, f"pickup:{p['case_id']}", p["event_id"],
                    now)
                await self.store.pickup_reminded(conn, p["case_id"], now)
        if queued:
            log.info("pickup_reminders_queued", messages=queued)
        return queued

    async def reminder_loop(self) -> None:
        while True:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self.remind_pickups()
            await asyncio.sleep(self.settings.notify_reminder_sweep_s)

    # --- delivery receipts (回执) ---------------------------------------------------------------------
    async def receipts(self, provider: str, items: list[tuple[str, bool, str | None]]) -> dict[str, int]:
        """Record provider receipts ``(provider message id, delivered, code)``; unknown ids are counted."""
        now = self.now()
        known = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for msg_id, delivered, code in items:
                known += await self.store.record_receipt(conn, provider, msg_id, delivered, code, now)
        log.info("sms_receipts", provider=provider, received=len(items), matched=known)
        return {"received": len(items), "matched": known}

    # --- the sender ----------------------------------------------------------------------------------
    async def send_next(self) -> bool:
        """Handle one due message (send, defer or fail it); False when none is due."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.store.claim_due(conn, self.now())
            if row is None:
                return False
            await self._handle(conn, row)
        return True

    async def _handle(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        now = self.now()
        mid, template = row["id"], row["template"]
        same, last = await self.store.phone_history(conn, bytes(row["phone_hash"]), template, now)
        decision = d.decide(d.TEMPLATES[template], now, sent_same_template_24h=same, last_sent_at=last,
                            limits=self.limits, quiet=self.quiet)
        if decision.action == "defer" and decision.until is not None:
            await self.store.update_message(conn, mid, next_attempt_at=decision.until, deferred_reason=decision.reason)
            log.info("sms_deferred", message_id=str(mid), template=template, reason=decision.reason,
                     until=iso(decision.until.astimezone(self.tz)))
            return
        if decision.action == "refuse":
            await self._fail(conn, row, decision.reason or "refused", attempts=row["attempts"], now=now)
            return
        if row["phone"] is None:
            await self._fail(conn, row, "expired", attempts=row["attempts"], now=now)
            return
        try:
            phone = self.box.open(bytes(row["phone"]), f"message:{mid}:phone")
        except CannotDecrypt:
            await self._fail(conn, row, "cannot_decrypt", attempts=row["attempts"], now=now)
            return
        attempts = row["attempts"] + 1
        sms = OutgoingSms(message_id=mid, phone=phone, text=row["text"], template=template,
                          signature=self.signature, parts=row["parts"], variables=dict(row["variables"] or {}))
        try:
            provider_msg_id = await self.provider.send(sms)
        except ProviderError as exc:
            await self._provider_failed(conn, row, exc.code, exc.transient, attempts, now)
            return
        except Exception as exc:  # a provider bug: recorded and retried like a transient error, never lost
            log.exception("sms_provider_error", message_id=str(mid), error=type(exc).__name__)
            await self._provider_failed(conn, row, "provider_error", True, attempts, now)
            return
        await self.store.update_message(conn, mid, status="sent", attempts=attempts, sent_at=now, finished_at=now,
                                        error_code=None, provider=self.provider.name, provider_msg_id=provider_msg_id)
        await add_to_outbox(conn, self._event(nev.SmsSent, row, now))
        log.info("sms_sent", message_id=str(mid), template=template, ref_id=row["ref_id"], parts=row["parts"],
                 provider=self.provider.name, attempt=attempts)

    async def _provider_failed(self, conn: asyncpg.Connection, row: asyncpg.Record, code: str, transient: bool,
                               attempts: int, now: datetime) -> None:
        """Retry with exponential backoff while attempts remain and the error is transient; else fail for good."""
        if transient and attempts < self.settings.notify_max_attempts:
            delay = d.retry_delay_s(attempts, self.settings.notify_retry_base_s)
            await self.store.update_message(conn, row["id"], attempts=attempts, error_code=code,
                                            provider=self.provider.name, next_attempt_at=now + timedelta(seconds=delay))
            await add_to_outbox(conn, self._event(nev.SmsFailed, row, now, error_code=code, final=False))
            log.warning("sms_retry", message_id=str(row["id"]), template=row["template"], attempt=attempts,
                        error_code=code, retry_in_s=delay)
            return
        await self._fail(conn, row, code, attempts=attempts, now=now)

    async def _fail(self, conn: asyncpg.Connection, row: asyncpg.Record, code: str, *, attempts: int,
                    now: datetime) -> None:
        await self.store.update_message(conn, row["id"], status="failed", attempts=attempts, error_code=code,
                                        finished_at=now, provider=self.provider.name)
        await add_to_outbox(conn, self._event(nev.SmsFailed, row, now, error_code=code, final=True))
        log.warning("sms_failed", message_id=str(row["id"]), template=row["template"], ref_id=row["ref_id"],
                    error_code=code, attempts=attempts)

    def _event(self, cls: type[nev.SmsSent] | type[nev.SmsFailed], row: asyncpg.Record, at: datetime,
               error_code: str | None = None, final: bool = True) -> Envelope:
        ref_id: uuid.UUID | str = row["ref_id"]
        with contextlib.suppress(ValueError):
            ref_id = uuid.UUID(row["ref_id"])
        return make_event(self.site, cls(message_id=row["id"], template=row["template"], segments=row["parts"],
                                         ref_type=row["ref_type"], ref_id=ref_id, error_code=error_code,
                                         final=final), occurred_at=at)

    async def send_loop(self) -> None:
        """Send what is due; sleep until woken (a new message committed) or the poll interval passes."""
        listen: asyncpg.Connection | None = None

        def on_notify(*_: Any) -> None:
            self.wake.set()

        try:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                listen = await self.pool.acquire()
                await listen.add_listener(SEND_CHANNEL, on_notify)
            while True:
                self.wake.clear()
                while await self.send_next():
                    pass
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.notify_send_poll_s):
                        await self.wake.wait()
        finally:
            if listen is not None:
                with contextlib.suppress(Exception):
                    await listen.remove_listener(SEND_CHANNEL, on_notify)
                with contextlib.suppress(Exception):
                    await self.pool.release(listen)

    async def sweep(self) -> tuple[int, int]:
        """Retention: delete expired contacts, drop the sealed phone of old finished messages."""
        retention = timedelta(days=self.settings.notify_retention_days)
        async with self.pool.acquire() as conn, conn.transaction():
            contacts, messages = await self.store.forget_expired(conn, self.now(), retention)
        if contacts or messages:
            log.info("retention_swept", contacts_deleted=contacts, message_phones_dropped=messages)
        return contacts, messages

    async def sweep_loop(self) -> None:
        while True:
            await self.sweep()
            await asyncio.sleep(self.settings.notify_sweep_interval_s)
