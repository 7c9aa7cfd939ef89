"""The site's calendar layers (overrides and installed arrangements) into the NATS key-value bucket
``calendar_<site>`` (``shared/calendar_sync.py``), for ratings, notify and the queue: at start, after every
change (``MattersApp.calendar_changed``) and every ``matters_routes_interval_s`` (writing only what differs)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats.errors
import nats.js.errors

from services.matters.app import MattersApp
from shared.calendar_sync import SiteLayers, bucket_name, publish_layers
from shared.logging import get_logger

log = get_logger("matters.calendar_publish")


async def site_layers(app: MattersApp) -> SiteLayers:
    async with app.pool.acquire() as conn:
        cal = await app.calendar(conn, fresh=True)
    return SiteLayers(dict(cal.overrides), dict(cal.arrangements))


async def calendar_loop(app: MattersApp, js: Any, interval_s: float) -> None:
    while True:
        app.calendar_changed.clear()
        layers = await site_layers(app)
        try:
            if await publish_layers(js, app.site, layers):
                log.info("calendar_layers_published", bucket=bucket_name(app.site), overrides=len(layers.overrides),
                         arrangements=sorted(layers.arrangements))
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError) as exc:
            log.warning("calendar_layers_publish_failed", bucket=bucket_name(app.site), error=repr(exc))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await app.calendar_changed.wait()
