"""One calendar for every service of a site: the matters service (which owns the site's overrides and the
installed arrangements) publishes the site's layers into the NATS key-value bucket ``calendar_<site>``; ratings,
notify and the queue watch it and keep a ``WorkCalendar`` of the site current (``watch_calendar``).

One key, ``layers``, whose value is ``{"overrides": {"YYYY-MM-DD": workday}, "arrangements": [{year, holidays,
workdays, source}]}`` (sorted, compact JSON), so a reader always sees one consistent state. The statutory days
and the chinesecalendar package are in every process already (``shared/workdays.py``); only the site's own data
travels. Until the bucket exists (no matters service yet) a watcher keeps the statutory/package calendar.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType

from shared.logging import get_logger
from shared.workdays import Arrangement, WorkCalendar

log = get_logger("calendar_sync")
KEY = "layers"


def bucket_name(site: str) -> str:
    return f"calendar_{site}"


@dataclass(frozen=True)
class SiteLayers:
    """The site's own calendar data: its overrides and its installed arrangements."""

    overrides: Mapping[date, bool] = field(default_factory=dict)
    arrangements: Mapping[int, Arrangement] = field(default_factory=dict)

    def calendar(self, on_unknown_year: Callable[[int], None] | None = None) -> WorkCalendar:
        return WorkCalendar(self.overrides, arrangements=self.arrangements, on_unknown_year=on_unknown_year)

    def encode(self) -> bytes:
        body = {"overrides": {d.isoformat(): w for d, w in sorted(self.overrides.items())},
                "arrangements": [self.arrangements[y].as_json() for y in sorted(self.arrangements)]}
        return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> SiteLayers:
        body = json.loads(value)
        overrides = {date.fromisoformat(d): bool(w) for d, w in body.get("overrides", {}).items()}
        arranged = (Arrangement.from_json(a) for a in body.get("arrangements", []))
        return cls(overrides, {a.year: a for a in arranged})

    @classmethod
    def of(cls, overrides: Iterable[tuple[date, bool]], arrangements: Iterable[Arrangement]) -> SiteLayers:
        return cls(dict(overrides), {a.year: a for a in arrangements})


async def calendar_bucket(js: Any, site: str) -> Any:
    try:
        return await js.key_value(bucket_name(site))
    except nats.js.errors.BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(
            bucket=bucket_name(site), history=5, storage=StorageType.FILE,
            description="the site's calendar layers (overrides, installed arrangements), written by matters"))


async def publish_layers(js: Any, site: str, layers: SiteLayers) -> bool:
    """Write the layers when they differ from the bucket's; True when written."""
    kv = await calendar_bucket(js, site)
    value = layers.encode()
    try:
        current = (await kv.get(KEY)).value
    except nats.js.errors.KeyNotFoundError:
        current = None
    if current == value:
        return False
    await kv.put(KEY, value)
    return True


async def watch_calendar(js: Any, site: str, apply: Callable[[SiteLayers], None], *, retry_s: float = 2.0) -> None:
    """Follow the bucket for ever and hand every new state to ``apply`` (waiting for the bucket to exist,
    re-watching after a NATS failure); an unreadable value is logged and skipped, the last good state stays."""
    while True:
        try:
            kv = await js.key_value(bucket_name(site))
            watcher = await kv.watch(KEY)
        except (nats.js.errors.BucketNotFoundError, nats.errors.Error, nats.js.errors.Error, TimeoutError):
            await asyncio.sleep(retry_s)
            continue
        try:
            async for entry in watcher:
                if entry is None or entry.value is None or entry.operation in ("DEL", "PURGE"):
                    continue
                try:
                    layers = SiteLayers.decode(entry.value)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    log.warning("calendar_layers_unreadable", bucket=bucket_name(site), error=repr(exc))
                    continue
                apply(layers)
                log.info("calendar_layers_applied", bucket=bucket_name(site), overrides=len(layers.overrides),
                         arrangements=sorted(layers.arrangements))
        except (nats.errors.Error, nats.js.errors.Error, TimeoutError) as exc:
            log.warning("calendar_watch_failed", bucket=bucket_name(site), error=repr(exc))
            await asyncio.sleep(retry_s)
        finally:
            try:
                await watcher.stop()
            except (nats.errors.Error, AttributeError):
                log.debug("calendar_watcher_stop_failed")
