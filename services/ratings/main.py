"""Bootstrap of the ratings service: the only place that opens connections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from services.ratings.api import router
from services.ratings.app import RatingsApp, make_box
from services.ratings.settings import RatingsSettings
from shared.calendar_sync import watch_calendar
from shared.consumer import EventConsumer
from shared.logging import get_logger
from shared.ratelimit import install_rate_limit_handler
from shared.runtime import Runtime, prepare, serve, service_app

log = get_logger("ratings")


async def expiry_loop(ratings: RatingsApp, interval_s: float) -> None:
    """Default expired invitations and flag overdue complaints now and then (several processes may run it:
    each invitation is defaulted once, each complaint flagged once)."""
    while True:
        while await ratings.default_expired() > 0:
            pass
        try:
            while await ratings.flag_overdue() > 0:
                pass
        except Exception:  # keep the expiry checker alive (logged with its traceback); the next round tries again
            log.exception("complaint_overdue_check_failed")
        await asyncio.sleep(interval_s)


def build_app(settings: RatingsSettings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """The service as an ASGI app; the data key is checked here, before anything connects."""
    box = make_box(settings)

    async def build(runtime: Runtime) -> dict[str, Any]:
        ratings = RatingsApp(runtime.db, settings, box=box, clock=clock)
        consumer = EventConsumer(bus=runtime.bus, pool=runtime.db, site=settings.site, stream=settings.stream_name,
                                 durable="ratings", handlers=ratings.handlers(), max_deliver=settings.max_deliver)
        runtime.spawn("consumer", consumer.run)
        runtime.spawn("site_calendar", lambda: watch_calendar(runtime.bus.js, settings.site, ratings.use_calendar))
        runtime.spawn("expiry_checker", lambda: expiry_loop(ratings, settings.ratings_expiry_check_interval_s))
        return {"ratings": ratings, "consumer": consumer}

    return service_app(settings, title="hallnet ratings service (好差评)", migrations=["services.ratings.migrations"],
                       build=build, routers=[router], configure=install_rate_limit_handler)


def main() -> None:
    settings = RatingsSettings(service="ratings")
    prepare(settings)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
