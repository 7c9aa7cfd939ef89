"""Use cases of the matters service: load, decide (domain.py), save and record the event in the outbox,
all in one transaction. Applicant data is sealed before it reaches the database and masked on the way out;
events and log lines carry ids only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.matters import domain as d
from services.matters import personal
from services.matters.catalog import Catalog, Matter, MatterSpec, SiteChange, apply_changes
from services.matters.crypto import DataBox
from services.matters.settings import MattersSettings
from services.matters.store import MattersStore
from services.matters.views import applicant_view, case_view, notice_data, notice_url
from shared import errors
from shared.auth import ClerkClaims
from shared.clock import now as clock_now
from shared.events import matters as ev
from shared.events.base import EventData, make_event
from shared.ids import uuid7
from shared.logging import get_logger
from shared.outbox import add_to_outbox
from shared.workdays import Arrangement, WorkCalendar

log = get_logger("matters")
CACHE_S = 5.0


@dataclass(frozen=True)
class Applicant:
    name: str
    id_no: str
    phone: str | None

    @classmethod
    def checked(cls, name: str, id_no: str, phone: str | None) -> Applicant:
        return cls(personal.normalize_name(name), personal.normalize_id_no(id_no),
                   personal.normalize_phone(phone) if phone else None)


def ordered(layers: dict[str, SiteChange]) -> list[SiteChange]:
    """The site file's layer first, the manager's on top."""
    return [layers[src] for src in ("site_file", "manager") if src in layers]


class MattersApp:
    def __init__(self, pool: asyncpg.Pool, settings: MattersSettings, catalog: Catalog, box: DataBox, *,
                 clock: Callable[[], datetime] | None = None, store: MattersStore | None = None,
                 pickup_place: str | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.site = settings.site
        self.tz = settings.tz
        self.catalog = catalog
        self.box = box
        self.store = store or MattersStore()
        self._clock = clock or (lambda: clock_now(self.tz))
        self._matters: tuple[float, dict[str, Matter]] | None = None
        self._calendar: tuple[float, WorkCalendar] | None = None
        self._years_warned: set[int] = set()
        self.routes_changed = asyncio.Event()  # wakes the route publisher (routing.py)
        self.calendar_changed = asyncio.Event()  # wakes the calendar publisher (calendar_publish.py)
        self.contacts_waiting = asyncio.Event()  # wakes the phone handover to notify (contacts.py)
        self.pickup_place = pickup_place or settings.site_name  # where certificates are collected (领取地点)

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def event(self, data: EventData, at: datetime) -> Any:
        return make_event(self.site, data, occurred_at=at)

    # --- catalog as this site runs it ------------------------------------------------------------------
    async def matters(self, conn: asyncpg.Connection, *, fresh: bool = False) -> dict[str, Matter]:
        if fresh or self._matters is None or time.monotonic() - self._matters[0] > CACHE_S:
            layers = await self.store.matter_changes(conn)
            self._matters = (time.monotonic(), {s.id: apply_changes(s, ordered(layers.get(s.id, {})))
                                                for s in self.catalog})
        return self._matters[1]

    async def apply_site_file(self, changes: dict[str, SiteChange]) -> None:
        """Replace the site-file layer (at start); CatalogError when it conflicts with the catalog."""
        for mid, change in changes.items():
            spec = self.catalog.get(mid)
            if spec is not None:
                apply_changes(spec, [change])
        async with self.pool.acquire() as conn, conn.transaction():
            await self.store.replace_site_file_changes(conn, changes)
            await self.matters(conn, fresh=True)
        self.routes_changed.set()

    def _manager(self, claims: ClerkClaims) -> None:
        if claims.role != "manager":
            raise errors.Forbidden("仅大厅负责人可修改 / only a hall manager (值班长) may change this")

    async def change_matter(self, claims: ClerkClaims, matter_id: str, change: SiteChange | None) -> Matter:
        """Set (or with None, drop) the manager's layer of one matter."""
        self._manager(claims)
        spec = self.catalog.get(matter_id)
        if spec is None:
            raise errors.NotFound(f"事项目录中没有 / no matter {matter_id} in the catalog")
        async with self.pool.acquire() as conn, conn.transaction():
            layers = {**(await self.store.matter_changes(conn)).get(matter_id, {})}
            layers.pop("manager", None)
            if change is not None:
                layers["manager"] = change
            apply_changes(spec, ordered(layers))  # CatalogError (422) when the layers break the catalog's rules
            if change is None:
                await self.store.delete_manager_change(conn, matter_id)
            else:
                await self.store.set_manager_change(conn, matter_id, change, claims.staff_id, self.now())
            matter = (await self.matters(conn, fresh=True))[matter_id]
        log.info("matter_changed", matter_id=matter_id, staff_id=claims.staff_id, enabled=matter.enabled,
                 queue=matter.queue, promised_days=matter.promised_days)
        self.routes_changed.set()
        return matter

    # --- working days --------------------------------------------------------------------------------
    def _unknown_year(self, year: int) -> None:
        if year not in self._years_warned:
            self._years_warned.add(year)
            log.warning("calendar_year_unknown", year=year, fallback="provisional: weekends, statutory holidays "
                        "and the site's override table", hint="install that year's arrangement "
                        "(PUT /matters/api/v1/calendar/{year}/arrangement) when the State Council publishes it")

    async def calendar(self, conn: asyncpg.Connection, *, fresh: bool = False) -> WorkCalendar:
        if fresh or self._calendar is None or time.monotonic() - self._calendar[0] > CACHE_S:
            rows = await self.store.calendar_overrides(conn)
            arranged = {r["year"]: Arrangement(r["year"], frozenset(r["holidays"]), frozenset(r["workdays"]),
                                               r["source"]) for r in await self.store.calendar_arrangements(conn)}
            cal = WorkCalendar({r["day"]: r["workday"] for r in rows}, arrangements=arranged,
                               on_unknown_year=self._unknown_year)
            self._calendar = (time.monotonic(), cal)
        return self._calendar[1]

    @staticmethod
    def calendar_warnings(cal: WorkCalendar, start: date, end: date) -> list[str]:
        return [f"{y}年放假安排尚未发布，期限按法定节假日临时计算 / the {y} holiday arrangement is not published yet: "
                f"deadlines are provisional (weekends, statutory holidays and this site's override table)"
                for y in cal.unknown_years(start, end)]

    async def working_days(self, start: date, days: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            cal = await self.calendar(conn)
        due = cal.add_working_days(start, days)
        return {"start": start.isoformat(), "days": days, "due": due.isoformat(),
                "warnings": self.calendar_warnings(cal, start, due)}

    async def calendar_overrides(self, year: int | None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await self.store.calendar_overrides(conn)
        return [{"day": r["day"].isoformat(), "workday": r["workday"], "note": r["note"],
                 "changed_by": r["changed_by"], "changed_at": r["changed_at"].isoformat()}
                for r in rows if year is None or r["day"].year == year]

    async def change_calendar(self, claims: ClerkClaims, day: date, workday: bool | None,
                              note: str | None) -> int:
        """Set (or with None, drop) an override and move the due dates of open cases; returns how many moved."""
        self._manager(claims)
        async with self.pool.acquire() as conn, conn.transaction():
            if workday is None:
                if not await self.store.delete_calendar_override(conn, day):
                    raise errors.NotFound(f"{day} 没有调整记录 / no override for {day}")
            else:
                await self.store.set_calendar_override(conn, day, workday, note, claims.staff_id, self.now())
            moved = await self.recount_due_dates(conn, await self.calendar(conn, fresh=True))
        self.calendar_changed.set()
        log.info("calendar_changed", day=day.isoformat(), workday=workday, staff_id=claims.staff_id, moved=moved)
        return moved

    async def recount_due_dates(self, conn: asyncpg.Connection, cal: WorkCalendar) -> int:
        """Move the due dates of open cases after a calendar change (in the caller's transaction)."""
        moved = 0
        for r in await self.store.open_cases_for_recount(conn):
            due_on, due_at = d.deadline(cal, r["accepted_on"], r["time_limit_days"], self.tz,
                                        await self.suspensions_of(conn, r["id"]))
            if due_on != r["due_on"]:
                await self.store.update_case(conn, r["id"], due_on=due_on, due_at=due_at, updated_at=self.now())
                await self.store.log(conn, r["id"], "due_moved", "system", self.now(),
                                     before=r["due_on"].isoformat() if r["due_on"] else None,
                                     after=due_on.isoformat() if due_on else None)
                moved += 1
        return moved

    # --- cases ---------------------------------------------------------------------------------------
    def _seal(self, case_id: uuid.UUID, a: Applicant) -> dict[str, bytes | None]:
        return {"applicant_name": self.box.seal(a.name, f"case:{case_id}:name"),
                "applicant_id_no": self.box.seal(a.id_no, f"case:{case_id}:id_no"),
                "applicant_phone": self.box.seal(a.phone, f"case:{case_id}:phone") if a.phone else None}

    def applicant(self, row: asyncpg.Record) -> Applicant:
        cid = row["id"]
        phone = row["applicant_phone"]
        return Applicant(self.box.open(bytes(row["applicant_name"]), f"case:{cid}:name"),
                         self.box.open(bytes(row["applicant_id_no"]), f"case:{cid}:id_no"),
                         self.box.open(bytes(phone), f"case:{cid}:phone") if phone is not None else None)

    def masked(self, row: asyncpg.Record) -> dict[str, Any]:
        a = self.applicant(row)
        return applicant_view(a.name, a.id_no, a.phone)

    async def accept(self, claims: ClerkClaims, *, matter_id: str, ticket_id: uuid.UUID | None,
                     name: str, id_no: str, phone: str | None, provided: Sequence[str],
                     applicable: Sequence[str]) -> tuple[int, dict[str, Any]]:
        """受理: 201 with the receipt when every material is there; 422 with the 一次性告知单 when not. The phone,
        if given, is handed to the site's notify service after commit (``contacts.py``), for either answer."""
        d.check_may_accept(claims.role)
        now = self.now()
        today = now.date()
        applicant = Applicant.checked(name, id_no, phone)
        provided, applicable = list(dict.fromkeys(provided)), list(dict.fromkeys(applicable))
        async with self.pool.acquire() as conn:
            m = (await self.matters(conn)).get(matter_id)
            if m is None or not m.enabled:
                raise errors.NotFound(f"事项不存在或本厅未开通 / matter {matter_id} is not served here")
            missing = d.missing_materials(m.spec.materials, provided, applicable)
            cal = await self.calendar(conn)
            case_id = uuid7()
            fields: dict[str, Any] = {
                "id": case_id, "matter_id": m.id, "kind": m.kind.value, "ticket_id": ticket_id,
                "window_no": claims.window_no, "owner_staff_id": claims.staff_id, **self._seal(case_id, applicant),
                "provided": provided, "applicable": applicable, "missing": missing,
                "steps": [s.code for s in m.spec.back_office_steps], "time_limit_days": m.promised_days,
                "created_at": now, "accepted_on": today,
            }
            events: list[EventData]
            async with conn.transaction():
                if missing:
                    row = await self.store.insert_case(conn, {**fields, "status": d.Status.MATERIALS_MISSING})
                    await self.store.log(conn, case_id, "materials_missing", claims.staff_id, now, missing=missing)
                    events = [ev.CaseMaterialsMissing(case_id=case_id, matter_id=m.id, missing=missing)]
                else:
                    row, events = await self._insert_accepted(conn, claims, m, fields, cal, now, ticket_id)
                if applicant.phone:  # to notify, inside the site (never in an event)
                    await self.store.add_contact_handover(conn, case_id, now)
                await add_to_outbox(conn, *(self.event(x, now) for x in events))
            if applicant.phone:
                self.contacts_waiting.set()
            masked = applicant_view(applicant.name, applicant.id_no, applicant.phone)
        if missing:
            log.info("case_materials_missing", case_id=str(case_id), matter_id=m.id, missing=len(missing))
            notice = notice_data(row, m.spec, masked, self.settings.site_name, self.tz)
            return 422, {"error": "materials_missing", "status": "materials_missing", "id": str(case_id),
                         "message": f"材料不全，尚缺{len(missing)}项，已出具一次性告知单 / {len(missing)} materials "
                                    f"missing: a 一次性告知单 lists them all",
                         "missing": missing, "notice_url": notice_url(case_id), "notice": notice}
        log.info("case_accepted", case_id=str(case_id), matter_id=m.id, kind=m.kind.value,
                 due_on=row["due_on"].isoformat() if row["due_on"] else None)
        view = case_view(row, m.spec, masked, self.tz, calendar_warnings=self.calendar_warnings(
            cal, today, row["due_on"] or today))
        return 201, {"id": str(case_id), "status": "accepted", "due_at": view["due_at"], "case": view}

    async def _insert_accepted(self, conn: asyncpg.Connection, claims: ClerkClaims, m: Matter,
                               fields: dict[str, Any], cal: WorkCalendar, now: datetime,
                               ticket_id: uuid.UUID | None) -> tuple[asyncpg.Record, list[EventData]]:
        case_id = fields["id"]
        accept_step = ev.CaseStepCompleted(case_id=case_id, step=d.ACCEPT_STEP, department=m.spec.department,
                                           staff_id=claims.staff_id)
        if m.kind is d.Kind.INSTANT:  # 即办件: completed at the window, in the same transaction
            row = await self.store.insert_case(conn, {
                **fields, "status": d.Status.COMPLETED, "result": d.Result.APPROVED, "completed_at": now,
                "working_days_used": 0, "overdue": False})
            due_at = None
        else:
            due_on, due_at = d.deadline(cal, fields["accepted_on"], m.promised_days, self.tz)
            assert due_on is not None  # no suspension yet
            row = await self.store.insert_case(conn, {**fields, "status": d.Status.ACCEPTED, "due_on": due_on,
                                                      "due_at": due_at})
        await self.store.log(conn, case_id, "accept", claims.staff_id, now, step=d.ACCEPT_STEP,
                             department=m.spec.department, window_no=claims.window_no)
        events: list[EventData] = [
            ev.CaseAccepted(case_id=case_id, matter_id=m.id, kind=m.kind.value, window_no=claims.window_no,
                            staff_id=claims.staff_id, ticket_id=ticket_id, time_limit_days=m.promised_days,
                            due_at=due_at, department=m.spec.department),
            accept_step]
        if m.kind is d.Kind.INSTANT:
            await self.store.log(conn, case_id, "complete", claims.staff_id, now, result="approved")
            events.append(ev.CaseCompleted(case_id=case_id, result="approved", working_days_used=0, overdue=False,
                                           department=m.spec.department, kind=m.kind.value))
        return row, events

    async def case_for_update(self, conn: asyncpg.Connection, case_id: uuid.UUID
                              ) -> tuple[asyncpg.Record, MatterSpec]:
        row = await self.store.case(conn, case_id, lock=True)
        if row is None:
            raise errors.NotFound(f"办件不存在 / no case {case_id}")
        spec = self.catalog.get(row["matter_id"])
        if spec is None:  # a matter withdrawn from the catalog after its cases were accepted
            raise errors.Conflict(f"事项 {row['matter_id']} 已不在事项目录中 / matter no longer in the catalog")
        return row, spec

    async def suspensions_of(self, conn: asyncpg.Connection, case_id: uuid.UUID) -> list[d.Suspension]:
        return [d.Suspension(s["suspended_on"], s["resumed_on"]) for s in await self.store.suspensions(conn, case_id)]

    # --- reading ---------------------------------------------------------------------------------------
    def deadline_state(self, cal: WorkCalendar, now: datetime, row: asyncpg.Record) -> tuple[int | None, str | None]:
        """(working days left, card) of a case now (None, None when its deadline does not count)."""
        remaining, level = d.deadline_state(cal, now=now, status=d.Status(row["status"]), kind=d.Kind(row["kind"]),
                                            due_on=row["due_on"], limit_days=row["time_limit_days"],
                                            policy=self.settings.card_policy)
        return remaining, level.value if level else None

    async def present(self, conn: asyncpg.Connection, case_id: uuid.UUID,
                      claims: ClerkClaims | None = None) -> dict[str, Any]:
        """One case with steps, history and its deadline now; with ``claims``, only if they may see it."""
        row = await self.store.case(conn, case_id)
        if row is None:
            raise errors.NotFound(f"办件不存在 / no case {case_id}")
        spec = self.catalog.get(row["matter_id"])
        if spec is None:
            raise errors.Conflict(f"事项 {row['matter_id']} 已不在事项目录中 / matter no longer in the catalog")
        if claims is not None:
            d.check_case_access(claims.role, claims.department, spec.department)
        now = self.now()
        cal = await self.calendar(conn)
        remaining, card = self.deadline_state(cal, now, row)
        end = max(now.date(), row["due_on"] or now.date())
        return case_view(row, spec, self.masked(row), self.tz, remaining=remaining, card=card,
                         log=await self.store.case_log(conn, case_id),
                         suspensions=await self.store.suspensions(conn, case_id),
                         warnings=await self.store.warnings(conn, case_id),
                         calendar_warnings=self.calendar_warnings(cal, row["accepted_on"], end))

    async def get_case(self, claims: ClerkClaims, case_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            return await self.present(conn, case_id, claims)

    async def notice(self, case_id: uuid.UUID) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await self.store.case(conn, case_id)
        if row is None:
            raise errors.NotFound(f"办件不存在 / no case {case_id}")
        spec = self.catalog.get(row["matter_id"])
        if row["status"] != d.Status.MATERIALS_MISSING or spec is None:
            raise errors.NotFound("该办件没有一次性告知单 / this case has no 一次性告知单 (materials were complete)")
        return notice_data(row, spec, self.masked(row), self.settings.site_name, self.tz)
