"""The central service run in-process against the real servers, with a clock the test moves; two configured test
sites (and a third, unconfigured, that only shows up in events) whose events go into a CENTRAL stream of the test's
own (the full leaf topology is tested in tests/stack)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import nats
import nats.js.errors
import pytest
from nats.js.api import StorageType, StreamConfig

from services.central.app import CentralApp
from services.central.ingest import Ingest
from services.central.main import build_app
from services.central.settings import CentralSettings
from shared.auth import hash_password
from shared.events.base import Envelope, EventData, make_event
from tests.harness import Servers

TZ = ZoneInfo("Asia/Shanghai")
PREFIX = "/central/api/v1"
SUPERVISOR, SUPERVISOR_PASSWORD = "sup01", "督导-pw-1"
# Monday 23 November 2026, a working day, 10:00 in the halls
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)


class FakeClock:
    """Central's clock; tests set it and move it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@dataclass
class CentralEnv:
    client: httpx.AsyncClient
    fastapi: Any
    settings: CentralSettings
    clock: FakeClock
    nc: Any
    database_url: str
    sites: list[str]  # [configured A, configured B, unconfigured C]
    stream: str
    published: list[Envelope] = field(default_factory=list)

    @property
    def app(self) -> CentralApp:
        return self.fastapi.state.central

    @property
    def ingest(self) -> Ingest:
        return self.fastapi.state.ingest

    def event(self, site: str, data: EventData, at: datetime | None = None, **shift: float) -> Envelope:
        """An envelope of ``site`` at ``at`` (default: the clock), moved by ``shift`` (timedelta keywords)."""
        return make_event(site, data, occurred_at=(at or self.clock.at) + timedelta(**shift))

    async def publish(self, *envs: Envelope, subject: str | None = None) -> None:
        """Publish envelopes as a site's stream would hand them on (``subject`` overrides, for forgeries)."""
        js = self.nc.jetstream()
        for env in envs:
            await js.publish(subject or env.subject, env.to_bytes(), headers={"Nats-Msg-Id": env.msg_id})
            self.published.append(env)

    async def publish_raw(self, subject: str, payload: bytes) -> None:
        await self.nc.jetstream().publish(subject, payload)

    async def wait_ingested(self, applied: int, dead: int = 0, timeout_s: float = 15.0) -> None:
        """Wait until the ingest has applied ``applied`` events and dead-lettered ``dead`` in total."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ingest.applied >= applied and self.ingest.dead_lettered >= dead:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"ingest applied {self.ingest.applied}/{applied}, "
                             f"dead-lettered {self.ingest.dead_lettered}/{dead}")

    async def site(self, site: str) -> dict[str, Any]:
        r = await self.client.get(f"{PREFIX}/sites/{site}")
        assert r.status_code == 200, r.text
        return r.json()

    async def supervisor(self) -> dict[str, str]:
        r = await self.client.post(f"{PREFIX}/sign-in",
                                   json={"username": SUPERVISOR, "password": SUPERVISOR_PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url)


def central_settings(servers: Servers, database_url: str, sites: list[str], stream: str, durable: str
                     ) -> CentralSettings:
    return CentralSettings(
        database_url=database_url, nats_url=servers.nats_url, central_stream=stream, central_durable=durable,
        central_sites=[{"id": sites[0], "name": "株洲市人社局便民服务大厅"},
                       {"id": sites[1], "name": "衡南县人社局服务大厅", "scale": "seeds4"}],
        central_supervisors={SUPERVISOR: hash_password(SUPERVISOR_PASSWORD, n=2**10)},
        token_secret="central-test-secret", central_batch=200, central_fetch_timeout_s=0.2,
        central_eval_interval_s=3600.0, heartbeat_interval_s=3600.0)


@contextlib.asynccontextmanager
async def running(settings: CentralSettings, clock: FakeClock) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    fastapi = build_app(settings, clock=clock)
    async with fastapi.router.lifespan_context(fastapi):
        transport = httpx.ASGITransport(app=fastapi)
        async with httpx.AsyncClient(transport=transport, base_url="http://central.test") as client:
            yield fastapi, client


@pytest.fixture(name="central_env")
async def central_env_fixture(servers: Servers, site: str, database_url: str) -> AsyncIterator[CentralEnv]:
    """Central with two configured sites and one unconfigured, its own CENTRAL stream, durable and database."""
    sites = [f"{site}-zz", f"{site}-hn", f"{site}-bg"]
    stream = "CENTRAL_" + site.upper()
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"hall.{s}.>" for s in sites],
                                     storage=StorageType.FILE, duplicate_window=120))
    settings = central_settings(servers, database_url, sites, stream, durable=f"central-{site}")
    clock = FakeClock(MONDAY_10)
    try:
        async with running(settings, clock) as (fastapi, client):
            yield CentralEnv(client=client, fastapi=fastapi, settings=settings, clock=clock, nc=nc,
                             database_url=database_url, sites=sites, stream=stream)
    finally:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
        await nc.close()
