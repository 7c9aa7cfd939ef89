"""Bootstrap of the matters service: the only place that opens connections."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from services.matters.api import router
from services.matters.app import MattersApp
from services.matters.calendar_publish import calendar_loop
from services.matters.catalog import Catalog, CatalogError, load_catalog, site_file_changes
from services.matters.contacts import contacts_loop
from services.matters.crypto import DataBox, derive_development_key, parse_key
from services.matters.deadlines import deadline_loop
from services.matters.downlink import build_downlink_consumer
from services.matters.routing import routes_loop
from services.matters.settings import MattersSettings
from shared.downlink import ensure_site_downlink
from shared.logging import get_logger
from shared.runtime import Runtime, prepare, serve, service_app

log = get_logger("matters")


def make_box(settings: MattersSettings) -> DataBox:
    old = [parse_key(k) for k in settings.matters_old_data_keys]
    if settings.matters_data_key:
        return DataBox(parse_key(settings.matters_data_key), old)
    log.warning("data_key_not_set", detail="applicant data is sealed with a key derived from the site's token "
                                           "secret: set HALLNET_MATTERS_DATA_KEY outside development")
    return DataBox(derive_development_key(settings.token_secret), old)


def read_site_file(settings: MattersSettings) -> dict[str, Any] | None:
    """The site file (HALLNET_SEED_FILE) as JSON, or None without one."""
    if not settings.seed_file:
        return None
    path = Path(settings.seed_file)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: cannot read the site file: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a JSON object")
    return raw


def pickup_place(settings: MattersSettings, raw: dict[str, Any] | None) -> str:
    """Where certificates are collected (the pickup SMS says it): the site file's ``pickup_place``, else the site."""
    place = (raw or {}).get("pickup_place")
    if place is None:
        return settings.site_name
    if not isinstance(place, str) or not 2 <= len(place.strip()) <= 40:
        raise CatalogError(f"{settings.seed_file}: pickup_place must be text of 2 to 40 characters")
    return place.strip()


def build_app(settings: MattersSettings, *, clock: Callable[[], datetime] | None = None,
              catalog: Catalog | None = None) -> FastAPI:
    """The service as an ASGI app. The catalog and the site file are validated here, before anything connects."""
    catalog = catalog or load_catalog()
    raw = read_site_file(settings)
    changes = None if raw is None else site_file_changes(raw, catalog, source=str(settings.seed_file))
    place = pickup_place(settings, raw)
    box = make_box(settings)

    async def build(runtime: Runtime) -> dict[str, Any]:
        matters = MattersApp(runtime.db, settings, catalog, box, clock=clock, pickup_place=place)
        if changes is not None:
            await matters.apply_site_file(changes)
            log.info("site_file_applied", file=settings.seed_file,
                     enabled=sum(1 for c in changes.values() if c.enabled))
        runtime.spawn("deadline_checker", lambda: deadline_loop(matters, settings.matters_check_interval_s))
        runtime.spawn("matter_routes", lambda: routes_loop(matters, runtime.bus.js, settings.matters_routes_interval_s))
        runtime.spawn("calendar_layers",
                      lambda: calendar_loop(matters, runtime.bus.js, settings.matters_routes_interval_s))
        downlink = build_downlink_consumer(matters, runtime.bus)
        await ensure_site_downlink(runtime.bus, settings.site, api=settings.matters_downlink_api or None)
        runtime.add_health("downlink", lambda: {"applied": downlink.applied, "dead_lettered": downlink.dead_lettered})
        runtime.spawn("downlink", downlink.run)
        runtime.spawn("contact_handover", lambda: contacts_loop(
            matters, runtime.bus, settings.matters_contacts_interval_s, settings.matters_contacts_timeout_s))
        return {"matters": matters}

    return service_app(settings, title="hallnet matters service (事项与办件)",
                       migrations=["services.matters.migrations"],
                       build=build, routers=[router])


def main() -> None:
    settings = MattersSettings(service="matters")
    prepare(settings)
    try:
        app = build_app(settings)
    except CatalogError as exc:
        log.error("catalog_invalid", error=str(exc))
        raise SystemExit(2) from None
    serve(app, settings)


if __name__ == "__main__":
    main()
