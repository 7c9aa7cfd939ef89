"""Bootstrap of the queue service: the only place that opens connections."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.queue import admin
from services.queue.api import index_router, router
from services.queue.app import QueueApp
from services.queue.board import BoardHub, snapshot_loop
from services.queue.routes import watch_routes
from services.queue.seed import apply_site_config, load_site_file
from shared.calendar_sync import watch_calendar
from shared.logging import get_logger
from shared.runtime import Runtime, prepare, serve, service_app
from shared.settings import Settings

log = get_logger("queue")


def build_app(settings: Settings) -> FastAPI:
    async def build(runtime: Runtime) -> dict[str, Any]:
        if settings.seed_file:
            async with runtime.db.acquire() as conn:
                await apply_site_config(conn, load_site_file(settings.seed_file))
            log.info("site_config_loaded", file=settings.seed_file)
        queue = QueueApp(runtime.db, settings)
        hub = BoardHub(queue.ctx)
        runtime.spawn("board_hub", hub.run)
        runtime.spawn("snapshot", lambda: snapshot_loop(queue.ctx, settings.snapshot_interval_s))
        runtime.spawn("site_calendar", lambda: watch_calendar(runtime.bus.js, settings.site, queue.ctx.use_calendar))
        runtime.spawn("matter_routes", lambda: watch_routes(runtime.db, runtime.bus.js, settings.site))
        return {"queue": queue, "board_hub": hub}

    return service_app(settings, title="hallnet queue service (排队叫号)", migrations=["services.queue.migrations"],
                       build=build, routers=[router, admin.router, index_router])


def main() -> None:
    settings = Settings(service="queue")
    prepare(settings)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
