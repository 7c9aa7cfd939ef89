"""The province's yearly arrangement (放假安排, 调休) at central: checked, stored as a new version of its year,
published down to every site (shared/downlink.py, target ``all``), and followed per site from the
``matters.calendar.installed`` events that come back up in CENTRAL."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
from typing import Any

import asyncpg
import nats.errors
import nats.js.errors

from services.central.app import CentralApp
from shared import errors
from shared.bus import Bus
from shared.clock import iso
from shared.consumer import EventConsumer
from shared.downlink import ALL, ORIGIN, publish_down
from shared.events.base import Envelope, make_event
from shared.events.central import CalendarPublished
from shared.events.matters import CalendarInstalled
from shared.ids import uuid7
from shared.logging import get_logger
from shared.workdays import Arrangement

log = get_logger("central.downlink")
DURABLE = "central-calendar"
# the notice's number (文号), e.g. 国办发明电〔2026〕7号 or 国办发〔2026〕12号
SOURCE_RE = re.compile(r"^\S{2,20}〔\d{4}〕\d{1,4}号$")


# --- pure rules -----------------------------------------------------------------------------------------------------
def checked(year: int, holidays: list[date], workdays: list[date], source: str) -> Arrangement:
    """The arrangement, or a 422 naming what is wrong: dates of another year, a day both off and worked, a weekend
    'holiday' or a weekday 'make-up day' (the notice lists only days that differ from the week), a bad source."""
    source = source.strip()
    if not SOURCE_RE.match(source):
        raise errors.Unprocessable("来源须为通知文号，如 国办发明电〔2026〕7号 / source must be the notice's number, "
                                   "e.g. 国办发明电〔2026〕7号")
    try:
        arrangement = Arrangement(year, frozenset(holidays), frozenset(workdays), source)
    except ValueError as exc:
        raise errors.Unprocessable(str(exc)) from exc
    wrong = sorted(d for d in holidays if d.weekday() >= 5) + sorted(d for d in workdays if d.weekday() < 5)
    if wrong:
        raise errors.Unprocessable("放假日须为周一至周五、调休上班日须为周六或周日 / holidays must be weekdays and "
                                   f"make-up days weekends: {', '.join(map(str, wrong))}")
    return arrangement


def envelope_of(row: Any) -> Envelope:
    """The publication as its envelope, the same every time (a retried publish is stored once in DOWN)."""
    data = CalendarPublished(year=row["year"], version=row["version"], holidays=sorted(row["holidays"]),
                             workdays=sorted(row["workdays"]), source=row["source"],
                             published_by=row["published_by"], published_at=row["published_at"])
    env = make_event(ORIGIN, data, occurred_at=row["published_at"])
    return env.model_copy(update={"id": row["event_id"]})


# --- use cases ------------------------------------------------------------------------------------------------------
async def publish(central: CentralApp, bus: Bus, arrangement: Arrangement, who: str) -> dict[str, Any]:
    """Store a new version of the year and send it down; a site applies the highest version it has seen."""
    async with central.pool.acquire() as conn, conn.transaction():
        row = await central.store.add_publication(conn, arrangement.year, sorted(arrangement.holidays),
                                                  sorted(arrangement.workdays), arrangement.source, who,
                                                  central.now(), uuid7())
    log.info("calendar_published", year=row["year"], version=row["version"], source=row["source"], by=who)
    central.calendar.install(arrangement)  # central's own office-hours alerts follow it too
    await send_pending(central, bus)
    return await view(central, arrangement.year)


async def load_published(central: CentralApp) -> int:
    """At start: central's calendar takes the version in force of every year it has published."""
    async with central.pool.acquire() as conn:
        rows = await central.store.publications_in_force(conn)
    for row in rows:
        central.calendar.install(Arrangement(row["year"], frozenset(row["holidays"]), frozenset(row["workdays"]),
                                             row["source"]))
    return len(rows)


async def send_pending(central: CentralApp, bus: Bus) -> int:
    """Publish every stored version DOWN has not confirmed yet (after a PUT, and every few seconds)."""
    async with central.pool.acquire() as conn:
        rows = await central.store.unpublished(conn)
    sent = 0
    for row in rows:
        try:
            seq = await publish_down(bus, ALL, envelope_of(row))
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError) as exc:
            log.warning("calendar_publish_down_failed", year=row["year"], version=row["version"], error=repr(exc))
            break
        async with central.pool.acquire() as conn:
            await central.store.mark_published(conn, row["event_id"], seq)
        sent += 1
    return sent


async def send_loop(central: CentralApp, bus: Bus, interval_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await send_pending(central, bus)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("calendar_send_failed", error=repr(exc))


async def view(central: CentralApp, year: int) -> dict[str, Any]:
    """The version in force and, per site, the version it applied (``current`` when it is this one)."""
    async with central.pool.acquire() as conn:
        row = await central.store.publication(conn, year)
        applied = {r["site"]: r for r in await central.store.applied(conn, year)}
        sites = await central.store.sites(conn)
    version = row["version"] if row else None
    per_site = []
    for s in sites:
        a = applied.get(s["site"])
        per_site.append({"site": s["site"], "name": s["name"] or s["site"], "applied": a is not None,
                         "version": a["version"] if a else None, "current": a is not None and a["version"] == version,
                         "applied_at": iso(a["applied_at"].astimezone(central.tz)) if a else None,
                         "cases_moved": a["cases_moved"] if a else None,
                         "overrides": _json_list(a["overrides"]) if a else []})
    published = None if row is None else {
        "version": row["version"], "source": row["source"], "published_by": row["published_by"],
        "published_at": iso(row["published_at"].astimezone(central.tz)), "sent": row["down_seq"] is not None,
        "holidays": [d.isoformat() for d in sorted(row["holidays"])],
        "workdays": [d.isoformat() for d in sorted(row["workdays"])]}
    return {"year": year, "status": "published" if row else "none", "published": published, "sites": per_site}


def _json_list(value: Any) -> list[Any]:
    """A jsonb column as the list it holds (asyncpg hands jsonb over as text without a codec)."""
    parsed = json.loads(value) if isinstance(value, str) else value
    return list(parsed or [])


def installed_consumer(central: CentralApp, bus: Bus, stream: str) -> EventConsumer:
    """Follows ``matters.calendar.installed`` of every site in CENTRAL, each once."""
    async def installed(conn: asyncpg.Connection, env: Envelope, data: Any) -> None:
        assert isinstance(data, CalendarInstalled)
        await central.store.record_applied(conn, env.site, data.year, data.version, data.source, data.cases_moved,
                                           [o.model_dump(mode="json") for o in data.overrides], env.occurred_at)

    return EventConsumer(bus=bus, pool=central.pool, site=ORIGIN, stream=stream, durable=DURABLE,
                         handlers={CalendarInstalled: installed},
                         subjects=[f"hall.*.{CalendarInstalled.TYPE}"])
