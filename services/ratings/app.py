"""Use cases of the ratings service: load, decide (domain.py), append to the chain and record the event in
the outbox, all in one transaction. A bad rating opens its complaint here, in the rating's transaction; the
follow-up of complaints is ``complaints.py``. The citizen's free text stays in this database; events and log
lines carry ids and levels only."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.ratings import complaint_rules as rules
from services.ratings import domain as d
from services.ratings.limits import RatingLimits
from services.ratings.settings import RatingsSettings
from services.ratings.store import RatingsStore
from shared import errors
from shared.calendar_sync import SiteLayers
from shared.clock import iso
from shared.clock import now as clock_now
from shared.consumer import Handler
from shared.crypto import CannotDecrypt, DataBox, derive_development_key, parse_key
from shared.events import matters as mev
from shared.events import queue as qev
from shared.events import ratings as ev
from shared.events.base import Envelope, EventData, make_event
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox
from shared.workdays import WorkCalendar, end_of_day

log = get_logger("ratings")
PREFIX = "/ratings/api/v1"
CHANNELS = {"ticket": "onsite", "case": "online"}  # 现场评价 per visit, 网上评价 per matter


def scale_view(scale: d.Scale) -> dict[str, Any]:
    return {"scale": scale.name,
            "levels": [{"level": lv, "label": scale.labels[lv]} for lv in scale.levels],
            "indicators": [{"key": k, "label": v} for k, v in d.INDICATORS.items()],
            "reasons": [{"key": k, "label": v} for k, v in d.REASONS.items()],
            "bad_max": scale.bad_max}


def invitation_view(row: asyncpg.Record, tz: Any) -> dict[str, Any]:
    scale = d.scale_of(row["scale"])
    return {"id": str(row["id"]), "subject": row["subject"], "subject_id": str(row["subject_id"]),
            "window_no": row["window_no"], "staff_id": row["staff_id"], "matter_id": row["matter_id"],
            "channel": row["channel"], "completed_at": iso(row["completed_at"].astimezone(tz)),
            "expires_at": iso(row["expires_at"].astimezone(tz)), "rated": row["rated"], **scale_view(scale)}


def rating_view(row: asyncpg.Record, tz: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "kind": row["kind"], "invitation_id": str(row["invitation_id"]),
            "voids": str(row["voids"]) if row["voids"] else None, "subject": row["subject"],
            "subject_id": str(row["subject_id"]), "window_no": row["window_no"], "staff_id": row["staff_id"],
            "matter_id": row["matter_id"], "scale": row["scale"], "level": row["level"],
            "indicators": row["indicators"], "reasons": list(row["reasons"]), "channel": row["channel"],
            "created_at": iso(row["created_at"].astimezone(tz)), "chain_seq": row["chain_seq"],
            "chain_hash": row["chain_hash"]}


def make_box(settings: RatingsSettings) -> DataBox:
    """The key that seals the citizens' free text at rest (a BadKey for a malformed one, before anything starts)."""
    old = [parse_key(k, "ratings_old_data_keys") for k in settings.ratings_old_data_keys]
    if settings.ratings_data_key:
        return DataBox(parse_key(settings.ratings_data_key, "ratings_data_key"), old)
    log.warning("data_key_not_set", detail="citizens' rating texts are sealed with a key derived from the site's "
                                           "token secret: set HALLNET_RATINGS_DATA_KEY outside development")
    return DataBox(derive_development_key(settings.token_secret, salt=b"hallnet-ratings",
                                          info=b"citizen text at rest"), old)


class RatingsApp:
    def __init__(self, pool: asyncpg.Pool, settings: RatingsSettings, *, box: DataBox | None = None,
                 clock: Callable[[], datetime] | None = None, store: RatingsStore | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.site = settings.site
        self.tz = settings.tz
        self.scale = d.scale_of(settings.ratings_scale)
        self.store = store or RatingsStore()
        self.box = box or make_box(settings)
        self._clock = clock or (lambda: clock_now(self.tz))
        self._years_warned: set[int] = set()
        self.limits = RatingLimits(settings)
        # the site's calendar (statutory holidays, 调休, the site's layers from matters: use_calendar)
        self.calendar = WorkCalendar(on_unknown_year=self._unknown_year)

    def use_calendar(self, layers: SiteLayers) -> None:
        """The site's calendar layers as the matters service publishes them (``shared/calendar_sync.py``)."""
        self.calendar = layers.calendar(self._unknown_year)

    def _unknown_year(self, year: int) -> None:
        if year not in self._years_warned:
            self._years_warned.add(year)
            log.warning("calendar_year_unknown", year=year, fallback="provisional: weekends and statutory holidays",
                        hint="complaint due dates of that year are provisional until its arrangement is installed")

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def event(self, data: EventData, at: datetime) -> Envelope:
        return make_event(self.site, data, occurred_at=at)

    # --- events from the queue and matters services ----------------------------------------------------
    def handlers(self) -> dict[type[EventData], Handler]:
        """The events this service consumes: a completed service opens its invitation; an accepted case tells
        us its window, clerk and matter."""
        return {qev.TicketCompleted: self.on_ticket_completed, mev.CaseAccepted: self.on_case_accepted,
                mev.CaseCompleted: self.on_case_completed}

    async def on_ticket_completed(self, conn: asyncpg.Connection, env: Envelope, data: qev.TicketCompleted) -> None:
        await self._invite(conn, "ticket", data.ticket_id, data.window_no, data.staff_id, data.matter_id,
                           env.occurred_at)

    async def on_case_accepted(self, conn: asyncpg.Connection, env: Envelope, data: mev.CaseAccepted) -> None:
        await self.store.remember_case(conn, data.case_id, data.matter_id, data.window_no, data.staff_id,
                                       data.kind, env.occurred_at)

    async def on_case_completed(self, conn: asyncpg.Connection, env: Envelope, data: mev.CaseCompleted) -> None:
        """一事一评 for a promised case only: a 即办件 finished at the window was rated there (一次一评)."""
        facts = await self.store.case_facts(conn, data.case_id)
        kind = getattr(data, "kind", None) or (facts["kind"] if facts else None)  # older events carry no kind
        if not d.invites_online(kind):
            log.info("invitation_not_needed", subject="case", subject_id=str(data.case_id), kind=kind)
            return
        await self._invite(conn, "case", data.case_id, facts["window_no"] if facts else None,
                           facts["staff_id"] if facts else None, facts["matter_id"] if facts else None,
                           env.occurred_at)

    async def _invite(self, conn: asyncpg.Connection, subject: str, subject_id: uuid.UUID, window_no: int | None,
                      staff_id: str | None, matter_id: str | None, completed_at: datetime) -> None:
        """Open the subject's one invitation and, when new, ``ratings.invitation.opened`` in the same
        transaction (the notify service texts the citizen the phone link)."""
        inv = {"id": uuid7(), "subject": subject, "subject_id": subject_id, "window_no": window_no,
               "staff_id": staff_id, "matter_id": matter_id, "scale": self.scale.name, "channel": CHANNELS[subject],
               "completed_at": completed_at,
               "expires_at": completed_at + timedelta(seconds=self.settings.ratings_expiry_s)}
        new = await self.store.open_invitation(conn, inv)
        if new:
            await add_to_outbox(conn, self.event(ev.InvitationOpened(
                invitation_id=inv["id"], subject=subject, subject_id=subject_id, window_no=window_no,
                matter_id=matter_id, expires_at=inv["expires_at"]), self.now()))
        log.info("invitation_opened" if new else "invitation_exists", subject=subject, subject_id=str(subject_id),
                 window_no=window_no)

    # --- reading -------------------------------------------------------------------------------------
    async def window_invitation(self, window_no: int) -> dict[str, Any] | None:
        """The open invitation of the window's latest completed service, or None (nothing to rate)."""
        now = self.now()
        since = now - timedelta(minutes=self.settings.ratings_invitation_minutes)
        async with self.pool.acquire() as conn:
            row = await self.store.latest_window_invitation(conn, window_no, since)
        if row is None or row["rated"] or row["expires_at"] <= now:
            return None
        return invitation_view(row, self.tz)

    async def get_invitation(self, invitation_id: uuid.UUID) -> dict[str, Any]:
        """What the phone page needs: subject, scale with labels, indicators, reason tags, and ``status``
        (open / rated / expired)."""
        async with self.pool.acquire() as conn:
            row = await self.store.invitation(conn, invitation_id)
        if row is None:
            raise errors.NotFound(f"没有该评价邀请 / no invitation {invitation_id}")
        return {**invitation_view(row, self.tz),
                "status": d.invitation_status(rated_kind=row["rated_kind"], expires_at=row["expires_at"],
                                              now=self.now())}

    # --- rating --------------------------------------------------------------------------------------
    @staticmethod
    def chain_fields(row: asyncpg.Record) -> dict[str, Any]:
        """An entry's place in the chain as its event carries it (``shared.chain``)."""
        entry = {**dict(row), "rating_id": row["id"], "reasons": list(row["reasons"] or [])}
        return {"chain_seq": row["chain_seq"], "chain_hash": row["chain_hash"], "chain_prev": row["prev_hash"],
                "chain_digest": d.entry_digest(entry)}

    async def append(self, conn: asyncpg.Connection, entry: dict[str, Any]) -> asyncpg.Record:
        """Chain one entry after the head (whose lock the transaction already holds)."""
        seq, prev = await self.store.lock_head(conn)
        entry = {**entry, "chain_seq": seq + 1, "prev_hash": prev}
        entry["chain_hash"] = d.chain_hash(prev, {**entry, "rating_id": entry["id"]})
        return await self.store.append(conn, entry)

    async def rate(self, invitation_id: uuid.UUID, *, level: int, indicators: dict[str, int] | None,
                   reasons: Sequence[str] | None, text: str | None, pad_window_no: int | None = None
                   ) -> dict[str, Any]:
        """Store the citizen's rating. ``pad_window_no``: submitted by that window's rating pad, which may rate
        only the window's latest completed service within ``ratings_invitation_minutes`` (409 otherwise)."""
        now = self.now()
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    # the head's lock serialises entries; read the invitation after it, so a rating committed
                    # while we waited is seen (the unique index is the backstop)
                    await self.store.lock_head(conn)
                    inv = await self.store.invitation(conn, invitation_id)
                    if inv is None:
                        raise errors.NotFound(f"没有该评价邀请 / no invitation {invitation_id}")
                    scale = d.scale_of(inv["scale"])
                    d.check_open(rated=inv["rated"], expires_at=inv["expires_at"], now=now)
                    if pad_window_no is not None:
                        await self._check_pad(conn, inv, pad_window_no, now)
                    inds, tags, cleaned = d.check_rating(scale, level, indicators, reasons, text)
                    rating_id = uuid7()
                    row = await self.append(conn, {
                        "id": rating_id, "kind": "submitted", "invitation_id": inv["id"], "voids": None,
                        "subject": inv["subject"], "subject_id": inv["subject_id"], "window_no": inv["window_no"],
                        "staff_id": inv["staff_id"], "matter_id": inv["matter_id"], "scale": scale.name,
                        "level": level, "indicators": inds, "reasons": tags, "text": None,
                        "text_sealed": self.box.seal(cleaned, f"rating:{rating_id}:text") if cleaned else None,
                        "channel": inv["channel"], "void_reason": None, "approved_by": None, "created_at": now})
                    events: list[EventData] = [ev.RatingSubmitted(
                        rating_id=row["id"], subject=row["subject"], subject_id=row["subject_id"],
                        window_no=row["window_no"], staff_id=row["staff_id"], matter_id=row["matter_id"],
                        scale=row["scale"], level=level, indicators=inds, channel=row["channel"],
                        **self.chain_fields(row))]
                    if scale.is_bad(level):  # 差评: followed up, in the same transaction
                        events.append(await self._open_complaint(conn, row, now))
                    await add_to_outbox(conn, *(self.event(x, now) for x in events))
            except asyncpg.UniqueViolationError as exc:
                raise errors.Conflict("该次服务已评价 / this service has already been rated") from exc
        log.info("rating_submitted", rating_id=str(row["id"]), level=level, window_no=row["window_no"],
                 chain_seq=row["chain_seq"])
        return rating_view(row, self.tz)

    def citizen_text(self, row: asyncpg.Record) -> str | None:
        """The citizen's words of a rating row, opened (for a duty manager's eyes only; never logged)."""
        if row["text_sealed"] is None:
            return row["text"]  # written before texts were sealed
        try:
            return self.box.open(bytes(row["text_sealed"]), f"rating:{row['rating_id']}:text")
        except CannotDecrypt as exc:
            log.warning("rating_text_unreadable", rating_id=str(row["rating_id"]), reason=str(exc))
            return None

    def complaint_due_at(self, opened: datetime) -> datetime:
        """End of the ``ratings_complaint_due_days``-th working day after ``opened`` (次日起算; China's statutory
        holidays and 调休 from the national calendar, weekends only for a year it does not know)."""
        day = rules.complaint_due_day(self.calendar, opened.astimezone(self.tz).date(),
                                  self.settings.ratings_complaint_due_days)
        return end_of_day(day, self.tz)

    async def _open_complaint(self, conn: asyncpg.Connection, rating: asyncpg.Record, now: datetime) -> EventData:
        """In the rating's transaction: the complaint of a bad rating (差评) and its ``ratings.complaint.opened``."""
        row = await self.store.insert_complaint(conn, {
            "id": uuid7(), "rating_id": rating["id"], "window_no": rating["window_no"],
            "staff_id": rating["staff_id"], "level": rating["level"], "due_at": self.complaint_due_at(now),
            "opened_at": now})
        log.info("complaint_opened", complaint_id=str(row["id"]), rating_id=str(rating["id"]),
                 window_no=rating["window_no"])
        return ev.ComplaintOpened(complaint_id=row["id"], rating_id=rating["id"], due_at=row["due_at"], outcome=None)

    async def _check_pad(self, conn: asyncpg.Connection, inv: asyncpg.Record, window_no: int, now: datetime
                         ) -> None:
        minutes = self.settings.ratings_invitation_minutes
        # the window's latest ticket completed at or after this one: this one itself when it is the latest
        latest = await self.store.latest_window_invitation(conn, window_no, inv["completed_at"])
        d.check_pad(window_no=window_no, inv_subject=inv["subject"], inv_window_no=inv["window_no"],
                    inv_completed_at=inv["completed_at"], is_latest=latest is not None and latest["id"] == inv["id"],
                    now=now, minutes=minutes)

    # --- expiry --------------------------------------------------------------------------------------
    async def default_expired(self, limit: int = 200) -> int:
        """Count invitations not rated in time as the scale's default level, each exactly once (the
        unique index and the outbox row commit together). Returns how many were defaulted now."""
        now = self.now()
        done = 0
        async with self.pool.acquire() as conn:
            if not await self.store.expired_unrated(conn, now, 1, lock=False):
                return 0  # the usual case: no need to take the chain's lock
        async with self.pool.acquire() as conn, conn.transaction():
            await self.store.lock_head(conn)
            for inv in await self.store.expired_unrated(conn, now, limit):
                scale = d.scale_of(inv["scale"])
                row = await self.append(conn, {
                    "id": uuid7(), "kind": "defaulted", "invitation_id": inv["id"], "voids": None,
                    "subject": inv["subject"], "subject_id": inv["subject_id"], "window_no": inv["window_no"],
                    "staff_id": inv["staff_id"], "matter_id": inv["matter_id"], "scale": scale.name,
                    "level": scale.default_level, "indicators": {}, "reasons": [], "text": None,
                    "channel": inv["channel"], "void_reason": None, "approved_by": None, "created_at": now})
                await add_to_outbox(conn, self.event(ev.RatingDefaulted(
                    rating_id=row["id"], subject_id=row["subject_id"], level=row["level"], scale=scale.name,
                    **self.chain_fields(row)), now))
                done += 1
        if done:
            log.info("ratings_defaulted", count=done)
        return done

    # --- overdue complaints --------------------------------------------------------------------------------
    async def flag_overdue(self, limit: int = 200) -> int:
        """Emit ``ratings.complaint.overdue`` for complaints not closed by ``due_at``, each exactly once: the
        unique ``complaint_overdue`` row and the outbox row commit together (several checkers may run; one that
        loses the race skips the complaint). Returns how many were flagged now."""
        now = self.now()
        done = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for c in await self.store.overdue_unflagged(conn, now, limit):
                if not await self.store.flag_overdue(conn, c["id"], now):
                    continue  # another checker flagged it first
                await add_to_outbox(conn, self.event(ev.ComplaintOverdue(
                    complaint_id=c["id"], rating_id=c["rating_id"], due_at=c["due_at"], outcome=None), now))
                log.info("complaint_overdue", complaint_id=str(c["id"]), rating_id=str(c["rating_id"]),
                         window_no=c["window_no"])
                done += 1
        return done

    # --- tamper evidence -----------------------------------------------------------------------------
    async def verify_chain(self) -> dict[str, Any]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            seq, head = await self.store.head(conn)
            rows = await self.store.chain(conn)
        entries = [{**dict(r), "rating_id": r["id"], "reasons": list(r["reasons"])} for r in rows]
        check = d.verify_chain(entries, head_seq=seq, head_hash=head)
        if not check.ok:
            log.error("rating_chain_broken", broken_at=check.broken_at, reason=check.reason)
        return {"ok": check.ok, "checked": check.checked, "broken_at": check.broken_at, "reason": check.reason,
                "head_seq": check.head_seq}
