"""Matter → queue routing learnt from the matters service (事项目录 is theirs): a watcher on the NATS
key-value bucket ``matter_routes_<site>`` applies every put and delete to ``matter_routes``, so the
queue never routes from a copy that drifts. The site file's matters are only the start-up default."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import nats.errors
import nats.js.errors

from services.queue.site_store import SiteStore
from shared.logging import get_logger

log = get_logger("queue.routes")


def bucket_name(site: str) -> str:
    return f"matter_routes_{site}"


async def apply_route(conn: asyncpg.Connection, key: str, value: bytes | None, store: SiteStore | None = None) -> str:
    """Apply one bucket entry; return what happened (for the log and the tests)."""
    store = store or SiteStore()
    if value is None:  # deleted or purged: the matter left the catalog
        return "disabled" if await store.disable_route(conn, key) else "ignored"
    try:
        route = json.loads(value)
        queue_id = uuid.UUID(route["queue_id"])
        name, enabled = str(route["name"]), bool(route.get("enabled", True))
    except (ValueError, KeyError, TypeError):
        log.warning("matter_route_unreadable", matter_id=key)
        return "unreadable"
    if not await store.queue_active(conn, queue_id):
        # a queue this hall does not run: keep the matter off rather than misroute it (and say so if it
        # was meant to be on; catalog matters the site has switched off are expected to name such queues)
        await store.disable_route(conn, key)
        if enabled:
            log.warning("matter_route_unknown_queue", matter_id=key, queue=route.get("queue"))
        return "unknown_queue"
    await store.put_route(conn, key, name, queue_id, enabled)
    return "enabled" if enabled else "disabled"


async def watch_routes(pool: asyncpg.Pool, js: Any, site: str, *, retry_s: float = 2.0) -> None:
    """Follow the bucket for ever (waiting for it to exist, re-watching after a NATS failure)."""
    while True:
        try:
            kv = await js.key_value(bucket_name(site))
            watcher = await kv.watchall()
        except (nats.js.errors.BucketNotFoundError, nats.errors.Error, nats.js.errors.Error, TimeoutError):
            await asyncio.sleep(retry_s)  # no matters service (yet): the site file's routes stand
            continue
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    continue
                deleted = entry.operation in ("DEL", "PURGE")
                async with pool.acquire() as conn:
                    outcome = await apply_route(conn, entry.key, None if deleted else entry.value)
                log.debug("matter_route_applied", matter_id=entry.key, outcome=outcome)
        finally:
            try:
                await watcher.stop()
            except (nats.errors.Error, AttributeError):
                log.debug("matter_route_watcher_stop_failed")
