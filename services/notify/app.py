"""Use cases of the notify service: contacts, messages queued for them, delivery receipts and retention.

Contacts are sealed before they reach the database. Site events become messages in the event's inbox
transaction (``events.py``), one per (event, template, phone) by a unique key; the sender (``sender.py``) sends
due messages after commit; the turn-approaching and pickup reminders are ``reminders.py``. ``notify.sms.sent`` /
``failed`` go through the outbox and never carry the phone; log lines carry ids only."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notify import domain as d
from services.notify.crypto import DataBox
from services.notify.providers import Provider
from services.notify.queue_client import QueueClient
from services.notify.settings import NotifySettings
from services.notify.store import NotifyStore
from shared.calendar_sync import SiteLayers
from shared.clock import iso
from shared.clock import now as clock_now
from shared.ids import uuid7
from shared.logging import get_logger
from shared.workdays import WorkCalendar

log = get_logger("notify")
SEND_CHANNEL = "hallnet_notify_send"  # pg_notify channel: a message was committed, wake the sender


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
        self.wake = asyncio.Event()  # the sender's: a message is due
        self.approach_wake = asyncio.Event()  # the turn-approaching check's: someone may have moved up
        self.queue = queue
        self.calendar = calendar or WorkCalendar()  # replaced by the site's (use_calendar)

    def use_calendar(self, layers: SiteLayers) -> None:
        """The site's calendar layers as the matters service publishes them (``shared/calendar_sync.py``)."""
        self.calendar = layers.calendar()

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    # --- contacts ------------------------------------------------------------------------------------
    async def register_contact(self, ref_type: str, ref_id: uuid.UUID, phone_text: str) -> dict[str, Any]:
        phone = d.normalize_phone(phone_text)
        now = self.now()
        cid = uuid7()
        async with self.pool.acquire() as conn, conn.transaction():
            await self.store.lock_ref(conn, ref_type, str(ref_id))
            row = await self.store.upsert_contact(conn, {
                "id": cid, "ref_type": ref_type, "ref_id": str(ref_id),
                "phone": self.box.seal(phone, f"contact:{ref_type}:{ref_id}:phone"),
                "phone_hash": self.box.lookup(phone), "phone_masked": d.mask_phone(phone), "created_at": now,
                "expires_at": now + timedelta(days=self.settings.notify_retention_days)})
            # the event asking for an SMS may have come first (the kiosk registers the phone after the ticket exists)
            late = await self.store.claim_unclaimed(conn, ref_type, str(ref_id), now - self.late_window(ref_type))
            queued = 0
            for u in late:
                queued += await self.queue_messages(conn, ref_type, str(ref_id), u["template"],
                                                    dict(u["variables"]), str(u["event_id"]), u["event_id"],
                                                    now)
        log.info("contact_registered", contact_id=str(row["id"]), ref_type=ref_type, ref_id=str(ref_id),
                 late_messages=queued)
        return {"id": str(row["id"]), "ref_type": ref_type, "ref_id": str(ref_id), "phone_masked": row["phone_masked"]}

    def late_window(self, ref_type: str) -> timedelta:
        """How long an SMS asked for before its phone arrived is kept for it: a ticket's news is stale within
        minutes; a case's phone may come long after (matters hands it over again until notify has it)."""
        return timedelta(seconds=self.settings.notify_late_case_contact_s if ref_type == "case"
                         else self.settings.notify_late_contact_s)

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

    # --- messages ------------------------------------------------------------------------------------
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

    # --- retention -----------------------------------------------------------------------------------
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
