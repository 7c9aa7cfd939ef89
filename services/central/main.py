"""Bootstrap of the central service: the only place that opens connections."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI

from services.central import downlink
from services.central.api import router, supervisor
from services.central.app import CentralApp
from services.central.ingest import BatchResult, Ingest
from services.central.settings import CentralSettings
from services.central.wall import WallHub
from shared.downlink import ensure_central_downlink
from shared.logging import get_logger
from shared.runtime import Runtime, prepare, serve, service_app

log = get_logger("central")


async def evaluate_loop(central: CentralApp, runtime: Runtime, interval_s: float) -> None:
    """Alerts that depend on time passing (offline, 空窗, late start) are evaluated now and then, not only after
    batches; the inbox is pruned once an hour. A round that fails is logged and reported on health (``degraded``
    with ``problems``) while it keeps failing, and the next round tries again: the loop never dies silently."""
    rounds = 0
    while True:
        if central.thresholds_problem:
            runtime.report_problem("thresholds", central.thresholds_problem)
        try:
            await central.evaluate()
            if rounds % max(1, int(3600 / interval_s)) == 0:
                await central.prune()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("alert_evaluation_failed", error=repr(exc))
        except Exception as exc:
            log.exception("alert_evaluation_failed")
            runtime.report_problem("alert_evaluator", f"{type(exc).__name__}: {exc}")
        rounds += 1
        await asyncio.sleep(interval_s)


def build_ingest(runtime: Runtime, settings: CentralSettings, central: CentralApp) -> Ingest:
    async def after_batch(_: BatchResult) -> None:
        try:
            await central.maybe_evaluate(settings.central_eval_interval_s)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("alert_evaluation_failed", error=repr(exc))

    return Ingest(runtime.db, bus=runtime.bus, stream=settings.central_stream, durable=settings.central_durable,
                  batch=settings.central_batch, tz=settings.tz, scales=central.scales(),
                  bad_rating_level=lambda: central.thresholds.bad_rating_level,
                  fetch_timeout_s=settings.central_fetch_timeout_s, ack_wait_s=settings.central_ack_wait_s,
                  on_batch=after_batch)


def build_app(settings: CentralSettings, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    async def build(runtime: Runtime) -> dict[str, Any]:
        central = CentralApp(runtime.db, settings, clock=clock)
        await central.start()
        await downlink.load_published(central)  # its office-hours alerts follow the arrangements it published
        ingest = build_ingest(runtime, settings, central)
        wall = WallHub(central)
        runtime.add_health("ingest", lambda: {"applied": ingest.applied, "duplicates": ingest.duplicates,
                                              "dead_lettered": ingest.dead_lettered, "batches": ingest.batches})
        runtime.spawn("ingest", ingest.run)
        runtime.spawn("alert_evaluator", lambda: evaluate_loop(central, runtime, settings.central_eval_interval_s))
        runtime.spawn("wall", wall.run)
        await ensure_central_downlink(runtime.bus)
        installed = downlink.installed_consumer(central, runtime.bus, settings.central_stream)
        runtime.spawn("calendar_installed", installed.run)
        runtime.spawn("calendar_down", lambda: downlink.send_loop(central, runtime.bus))
        return {"central": central, "ingest": ingest, "wall": wall}

    return service_app(settings, title="hallnet central supervision (监管中心)",
                       migrations=["services.central.migrations"], build=build, routers=[router],
                       follow_sessions=False, operator=supervisor)


def main() -> None:
    settings = CentralSettings()
    prepare(settings)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
