"""SQL of the notify service, one class. Every method runs on the connection it is given, so the use case
decides the transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

MESSAGE_COLUMNS = frozenset({"status", "attempts", "next_attempt_at", "deferred_reason", "error_code", "provider",
                             "provider_msg_id", "sent_at", "finished_at"})


class NotifyStore:
    # --- contacts -----------------------------------------------------------------------------------
    async def upsert_contact(self, conn: asyncpg.Connection, c: dict[str, Any]) -> asyncpg.Record:
        """A phone registered again for the same ref keeps its row (and id); its retention restarts."""
        return await conn.fetchrow(
            """INSERT INTO contacts (id, ref_type, ref_id, phone, phone_hash, phone_masked, created_at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (ref_type, ref_id, phone_hash) DO UPDATE SET expires_at = excluded.expires_at
               RETURNING id, phone_masked""",
            c["id"], c["ref_type"], c["ref_id"], c["phone"], c["phone_hash"], c["phone_masked"], c["created_at"],
            c["expires_at"])

    async def contacts_for(self, conn: asyncpg.Connection, ref_type: str, ref_id: str,
                           at: datetime) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT id, phone, phone_hash, phone_masked FROM contacts
               WHERE ref_type = $1 AND ref_id = $2 AND expires_at > $3 ORDER BY created_at""",
            ref_type, ref_id, at)

    # --- messages -----------------------------------------------------------------------------------
    async def insert_message(self, conn: asyncpg.Connection, m: dict[str, Any]) -> bool:
        """False when this (event, template, phone) already has its message."""
        status = await conn.execute(
            """INSERT INTO messages (id, dedupe_key, event_id, template, ref_type, ref_id, phone, phone_hash,
                   phone_masked, text, parts, status, next_attempt_at, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending', $12, $12)
               ON CONFLICT (dedupe_key) DO NOTHING""",
            m["id"], m["dedupe_key"], m["event_id"], m["template"], m["ref_type"], m["ref_id"], m["phone"],
            m["phone_hash"], m["phone_masked"], m["text"], m["parts"], m["created_at"])
        return bool(status.endswith(" 1"))

    async def messages_for(self, conn: asyncpg.Connection, ref_id: str, limit: int) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT id, template, text, parts, status, phone_masked, ref_type, ref_id, attempts, error_code,
                      created_at, sent_at, next_attempt_at
               FROM messages WHERE ref_id = $1 ORDER BY created_at, id LIMIT $2""", ref_id, limit)

    async def claim_due(self, conn: asyncpg.Connection, at: datetime) -> asyncpg.Record | None:
        """The next pending message that is due, locked for this transaction (others skip it)."""
        return await conn.fetchrow(
            """SELECT * FROM messages WHERE status = 'pending' AND next_attempt_at <= $1
               ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED""", at)

    async def next_due_at(self, conn: asyncpg.Connection) -> datetime | None:
        return await conn.fetchval("SELECT min(next_attempt_at) FROM messages WHERE status = 'pending'")

    async def phone_history(self, conn: asyncpg.Connection, phone_hash: bytes, template: str,
                            at: datetime) -> tuple[int, datetime | None]:
        """(messages of ``template`` sent to the phone in the 24 h before ``at``, the phone's last send)."""
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE template = $2 AND sent_at > $3) AS same, max(sent_at) AS last
               FROM messages WHERE phone_hash = $1 AND status = 'sent'""",
            phone_hash, template, at - timedelta(hours=24))
        return int(row["same"]), row["last"]

    async def update_message(self, conn: asyncpg.Connection, message_id: uuid.UUID, **fields: Any) -> None:
        bad = set(fields) - MESSAGE_COLUMNS
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        names = list(fields)
        sets = ", ".join(f"{n} = ${i + 2}" for i, n in enumerate(names))
        await conn.execute(f"UPDATE messages SET {sets} WHERE id = $1", message_id, *[fields[n] for n in names])

    # --- retention ----------------------------------------------------------------------------------
    async def forget_expired(self, conn: asyncpg.Connection, at: datetime, retention: timedelta) -> tuple[int, int]:
        """Delete expired contacts and drop the sealed phone of finished messages older than the retention."""
        contacts = await conn.execute("DELETE FROM contacts WHERE expires_at <= $1", at)
        messages = await conn.execute(
            "UPDATE messages SET phone = NULL WHERE phone IS NOT NULL AND status <> 'pending' AND created_at <= $1",
            at - retention)
        return int(contacts.split()[-1]), int(messages.split()[-1])
