"""What the matters service takes from central's downlink (shared/downlink.py): the province's arrangement of a
year (``central.calendar.published``). Each publication is applied once (the consumer's inbox) and only when
newer than the one installed; it is installed, the open deadlines moved and ``matters.calendar.installed``
recorded in the outbox, all in the inbox claim's transaction, so central learns it on the normal path."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.matters.app import MattersApp
from services.matters.calendar import install_arrangement_on
from shared.bus import Bus
from shared.consumer import EventConsumer
from shared.downlink import downlink_consumer
from shared.events.base import Envelope
from shared.events.central import CalendarPublished
from shared.events.matters import CalendarDayOverride, CalendarInstalled
from shared.logging import get_logger
from shared.outbox import add_to_outbox
from shared.workdays import Arrangement

log = get_logger("matters.downlink")
DURABLE = "matters-downlink"


def is_newer(published: int, installed: int | None) -> bool:
    """A publication supersedes the installed one when its version is higher (a hand-installed year has none)."""
    return installed is None or published > installed


async def on_calendar_published(app: MattersApp, conn: asyncpg.Connection, env: Envelope,
                                data: CalendarPublished) -> bool:
    """Install the publication unless this site has it (or a newer one) already; True when installed."""
    installed = await app.store.central_calendar_version(conn, data.year)
    if not is_newer(data.version, installed):
        log.info("calendar_publication_skipped", year=data.year, version=data.version, installed=installed)
        return False
    try:
        arrangement = Arrangement(data.year, frozenset(data.holidays), frozenset(data.workdays), data.source)
    except ValueError as exc:  # central validates; should one slip through, it is dead-lettered after the retries
        raise ValueError(f"unusable arrangement {data.year} v{data.version}: {exc}") from exc
    moved = await install_arrangement_on(conn, app, f"central:{data.published_by}", arrangement, data.version)
    overrides = [CalendarDayOverride(day=r["day"], workday=r["workday"])
                 for r in await app.store.calendar_overrides(conn) if r["day"].year == data.year]
    event = CalendarInstalled(year=data.year, version=data.version, source=data.source, cases_moved=moved,
                              overrides=sorted(overrides, key=lambda o: o.day))
    await add_to_outbox(conn, app.event(event, app.now()))
    log.info("calendar_publication_installed", year=data.year, version=data.version, cases_moved=moved,
             envelope=str(env.id))
    return True


def build_downlink_consumer(app: MattersApp, bus: Bus) -> EventConsumer:
    async def calendar_published(conn: asyncpg.Connection, env: Envelope, data: Any) -> None:
        if await on_calendar_published(app, conn, env, data):
            app.calendar_changed.set()  # the layers for ratings, notify, queue (re-read every interval as well)

    return downlink_consumer(bus=bus, pool=app.pool, site=app.site, durable=DURABLE,
                             handlers={CalendarPublished: calendar_published})
