"""Bootstrap of the ratings service: the only place that opens connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from services.ratings.api import router
from services.ratings.app import RatingsApp
from services.ratings.settings import RatingsSettings
from shared.consumer import EventConsumer
from shared.http import create_app
from shared.logging import get_logger
from shared.ratelimit import install_rate_limit_handler
from shared.runtime import Runtime, prepare, serve

log = get_logger("ratings")


def subjects(site: str) -> list[str]:
    """Completed services open invitations; an accepted case tells us its window, clerk and matter."""
    return [f"hall.{site}.queue.ticket.completed", f"hall.{site}.matters.case.accepted",
            f"hall.{site}.matters.case.completed"]


async def expiry_loop(ratings: RatingsApp, interval_s: float) -> None:
    """Default expired invitations and flag overdue complaints now and then (several processes may run it:
    each invitation is defaulted once, each complaint flagged once)."""
    while True:
        while await ratings.default_expired() > 0:
            pass
        try:
            while await ratings.flag_overdue() > 0:
                pass
        except Exception:  # noqa: BLE001 - keep the expiry checker alive; the next round tries again
            log.exception("complaint_overdue_check_failed")
        await asyncio.sleep(interval_s)


def build_app(settings: RatingsSettings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, ["services.ratings.migrations"])
        await runtime.start()
        try:
            ratings = RatingsApp(runtime.db, settings, clock=clock)
            consumer = EventConsumer(bus=runtime.bus, pool=runtime.db, site=settings.site,
                                     stream=settings.stream_name, durable="ratings", subjects=subjects(settings.site),
                                     handler=ratings.on_event, max_deliver=settings.max_deliver)
            app.state.runtime, app.state.ratings, app.state.consumer = runtime, ratings, consumer
            runtime.spawn("consumer", consumer.run)
            runtime.spawn("expiry_checker",
                          lambda: expiry_loop(ratings, settings.ratings_expiry_check_interval_s))
            yield
        finally:
            await runtime.stop()

    app = create_app("ratings", "hallnet ratings service (好差评)", settings.version, lifespan=lifespan)
    install_rate_limit_handler(app)
    app.include_router(router)
    return app


def main() -> None:
    settings = RatingsSettings(service="ratings")
    prepare(settings)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
