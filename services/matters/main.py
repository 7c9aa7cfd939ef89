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
from services.matters.catalog import Catalog, CatalogError, SiteChange, load_catalog, site_file_changes
from services.matters.crypto import DataBox, derive_development_key, parse_key
from services.matters.deadlines import deadline_loop
from services.matters.routing import routes_loop
from services.matters.settings import MattersSettings
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


def site_changes(settings: MattersSettings, catalog: Catalog) -> dict[str, SiteChange] | None:
    """The site file's layer (the ``matters`` list of HALLNET_SEED_FILE), or None without a site file."""
    if not settings.seed_file:
        return None
    path = Path(settings.seed_file)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: cannot read the site file: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: expected a JSON object")
    return site_file_changes(raw, catalog, source=str(path))


def build_app(settings: MattersSettings, *, clock: Callable[[], datetime] | None = None,
              catalog: Catalog | None = None) -> FastAPI:
    """The service as an ASGI app. The catalog and the site file are validated here, before anything connects."""
    catalog = catalog or load_catalog()
    changes = site_changes(settings, catalog)
    box = make_box(settings)

    async def build(runtime: Runtime) -> dict[str, Any]:
        matters = MattersApp(runtime.db, settings, catalog, box, clock=clock)
        if changes is not None:
            await matters.apply_site_file(changes)
            log.info("site_file_applied", file=settings.seed_file,
                     enabled=sum(1 for c in changes.values() if c.enabled))
        runtime.spawn("deadline_checker", lambda: deadline_loop(matters, settings.matters_check_interval_s))
        runtime.spawn("matter_routes", lambda: routes_loop(matters, runtime.bus.js, settings.matters_routes_interval_s))
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
