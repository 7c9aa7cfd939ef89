"""Matter → queue routes for the queue service, in a NATS key-value bucket ``matter_routes_<site>``.

This service owns the catalog and the site's changes to it, so it is the one source of routing: one key
per matter id, value ``{"matter_id", "name", "category", "kind", "queue", "queue_id", "enabled",
"promised_days"}`` (``queue`` is the queue prefix, ``queue_id`` the queue service's id for it). Keys are
re-published at start, whenever a hall manager changes a matter, and every ``matters_routes_interval_s``
(writing only what differs), so the bucket cannot drift from the catalog. The queue service watches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

from services.matters.app import MattersApp
from services.matters.catalog import Matter
from shared.ids import queue_uuid
from shared.logging import get_logger

log = get_logger("matters.routing")


def bucket_name(site: str) -> str:
    return f"matter_routes_{site}"


def route_value(site: str, m: Matter) -> bytes:
    body = {"matter_id": m.id, "name": m.name, "category": m.spec.category, "kind": m.kind.value,
            "queue": m.queue, "queue_id": str(queue_uuid(site, m.queue)), "enabled": m.enabled,
            "promised_days": m.promised_days}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


async def routes_bucket(js: Any, site: str) -> Any:
    try:
        return await js.key_value(bucket_name(site))
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(
            bucket=bucket_name(site), history=5, storage=StorageType.FILE,
            description="matter -> queue routes, written by the matters service"))


async def publish_routes(js: Any, site: str, matters: Iterable[Matter]) -> int:
    """Write every route that differs from the bucket and delete keys of matters no longer in the catalog;
    return how many keys changed."""
    kv = await routes_bucket(js, site)
    changed = 0
    ids = set()
    for m in matters:
        ids.add(m.id)
        value = route_value(site, m)
        try:
            current = (await kv.get(m.id)).value
        except nats.js.errors.KeyNotFoundError:
            current = None
        if current != value:
            await kv.put(m.id, value)
            changed += 1
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        keys = []
    for key in set(keys) - ids:
        await kv.delete(key)
        changed += 1
    return changed


async def routes_loop(app: MattersApp, js: Any, interval_s: float) -> None:
    while True:
        app.routes_changed.clear()
        async with app.pool.acquire() as conn:
            matters = list((await app.matters(conn, fresh=True)).values())
        try:
            changed = await publish_routes(js, app.site, matters)
            if changed:
                log.info("matter_routes_published", bucket=bucket_name(app.site), changed=changed)
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError) as exc:
            log.warning("matter_routes_publish_failed", bucket=bucket_name(app.site), error=repr(exc))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval_s):
                await app.routes_changed.wait()
