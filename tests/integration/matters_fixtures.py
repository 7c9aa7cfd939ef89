"""A matters service of a small test site, run in-process against the real servers, with a clock the test
moves. Test modules wrap ``start_matters`` in a fixture of their own."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import nats

from hallnet.embedded import with_parent_death
from services.matters.app import MattersApp
from services.matters.catalog import load_catalog
from services.matters.main import build_app
from services.matters.settings import MattersSettings
from shared.auth import ClerkClaims, issue_token
from shared.events.base import Envelope
from tests.harness import Servers
from tests.harness import wait_healthy as harness_wait_healthy
from tests.integration.conftest import read_stream, site_config

TZ = ZoneInfo("Asia/Shanghai")
PREFIX = "/matters/api/v1"
DATA_KEY = "q5cJ0e0m1O8pZ3qGvY2b8S2a9Xq8l0V7yC3t6hB1w4E="  # a test key: 32 bytes, base64

# real-looking applicants (valid check digits; made-up people)
APPLICANTS = [
    {"name": "张建国", "id_no": "430102199001011238", "phone": "13812341234"},
    {"name": "李秀英", "id_no": "430203198507153214", "phone": "13973125678"},
    {"name": "欧阳娜娜", "id_no": "430421197803220046", "phone": "18670012345"},
]
EXTRA_MATTERS = [("sy-jtsl", "生育津贴申领", "B"), ("kk-bhk", "社会保障卡补换", "A"), ("gs-rdsq", "工伤认定申请", "A"),
                 ("jy-knrd", "就业困难人员认定", "A"), ("kk-sl", "社会保障卡申领", "A")]


def matters_site_config(site: str) -> dict[str, Any]:
    """The queue tests' site (queues A/B, yl-txsq and yb-ydjy) with a few more matters routed."""
    cfg = site_config(site, 2)
    cfg["matters"] += [{"matter_id": m, "name": n, "queue": q} for m, n, q in EXTRA_MATTERS]
    return cfg


class FakeClock:
    """The service's clock; tests set it to a day and move it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> None:
        self.at = datetime(year, month, day, hour, minute, second, tzinfo=TZ)

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def required_materials(matter_id: str) -> list[str]:
    spec = load_catalog().get(matter_id)
    assert spec is not None
    return [m.id for m in spec.materials if m.required]


@dataclass
class MattersEnv:
    client: httpx.AsyncClient
    app: MattersApp
    settings: MattersSettings
    clock: FakeClock
    nc: Any
    database_url: str
    seed: Path
    tokens: dict[tuple[str, int, str, str | None], str] = field(default_factory=dict)

    def auth(self, staff_id: str = "s001", window_no: int = 1, role: str = "A",
             department: str | None = None) -> dict[str, str]:
        """A clerk token as the queue service issues it at sign-in (signed with the site's secret)."""
        key = (staff_id, window_no, role, department)
        if key not in self.tokens:
            self.tokens[key] = issue_token(self.settings.token_secret, ClerkClaims(
                site=self.settings.site, staff_id=staff_id, window_no=window_no, session_id=uuid.uuid4(),
                expires_at=int(time.time()) + 3600, role=role, department=department))
        return {"Authorization": f"Bearer {self.tokens[key]}"}

    def backoffice(self, staff_id: str, department: str) -> dict[str, str]:
        """A back-office (后台) token as the queue's staff sign-in issues it: window 0, role backoffice, 科室."""
        return self.auth(staff_id, 0, "backoffice", department)

    @property
    def manager(self) -> dict[str, str]:
        return self.auth("m001", 1, "manager")

    async def accept(self, matter_id: str = "yl-txsq", *, provided: Sequence[str] | None = None,
                     applicant: dict[str, Any] | None = None, expect: int | None = 201, **extra: Any
                     ) -> dict[str, Any]:
        body = {"matter_id": matter_id, "applicant": applicant or APPLICANTS[0],
                "provided": list(provided) if provided is not None else required_materials(matter_id), **extra}
        r = await self.client.post(f"{PREFIX}/cases", json=body, headers=self.auth())
        if expect is not None:
            assert r.status_code == expect, r.text
        return r.json()

    async def act(self, case_id: str, action: str, body: dict[str, Any] | None = None,
                  expect: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.client.post(f"{PREFIX}/cases/{case_id}/{action}", json=body, headers=headers or self.auth())
        assert r.status_code == expect, r.text
        return r.json()

    async def events(self, expect: int | None = None, types: tuple[str, ...] = ("matters.",),
                     timeout_s: float = 10.0) -> list[Envelope]:
        return await read_stream(self.nc, self.settings.site, expect=expect, types=types, timeout_s=timeout_s)

    async def counts(self) -> dict[str, int]:
        """Rows in the tables a use case writes (to show that bad input changed nothing)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return {t: await conn.fetchval(f"SELECT count(*) FROM {t}")  # constant table names
                    for t in ("cases", "case_log", "case_suspensions", "outbox", "matter_changes",
                              "calendar_overrides")}
        finally:
            await conn.close()


def matters_settings(site: str, database_url: str, nats_url: str, seed: Path | None, **kw: Any
                     ) -> MattersSettings:
    return MattersSettings(site=site, site_name="测试大厅", service="matters", database_url=database_url,
                           nats_url=nats_url, token_secret="test-secret-" + site,
                           seed_file=str(seed) if seed else None, heartbeat_interval_s=60.0,
                           matters_data_key=DATA_KEY, matters_check_interval_s=kw.pop("check_interval_s", 3600.0),
                           matters_routes_interval_s=kw.pop("routes_interval_s", 3600.0), **kw)


@contextlib.asynccontextmanager
async def start_matters(servers: Servers, site: str, database_url: str, tmp_path: Path, *,
                        clock: FakeClock | None = None, **kw: Any) -> AsyncIterator[MattersEnv]:
    """The service in-process (lifespan and all) with an httpx client; leaves the database as it is."""
    seed = tmp_path / "site.json"
    if not seed.exists():
        seed.write_text(json.dumps(matters_site_config(site), ensure_ascii=False), encoding="utf-8")
    clock = clock or FakeClock(datetime(2026, 2, 13, 10, 0, tzinfo=TZ))
    settings = matters_settings(site, database_url, servers.nats_url, seed, **kw)
    fastapi = build_app(settings, clock=clock)
    nc = await nats.connect(servers.nats_url)
    try:
        async with fastapi.router.lifespan_context(fastapi):
            transport = httpx.ASGITransport(app=fastapi)
            async with httpx.AsyncClient(transport=transport, base_url="http://matters.test") as client:
                yield MattersEnv(client=client, app=fastapi.state.matters, settings=settings, clock=clock, nc=nc,
                                 database_url=database_url, seed=seed)
    finally:
        await nc.close()


def start_matters_process(settings: MattersSettings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m services.matters`` as ``hallnet up`` starts it (real clock), logging JSON to ``log``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    env.update(HALLNET_SITE=settings.site, HALLNET_SERVICE="matters", NATS_URL=settings.nats_url,
               DATABASE_URL=settings.database_url, HALLNET_HTTP_PORT=str(port),
               HALLNET_TOKEN_SECRET=settings.token_secret, HALLNET_SEED_FILE=settings.seed_file or "",
               HALLNET_LOG_FORMAT="json", HALLNET_MATTERS_DATA_KEY=DATA_KEY,
               HALLNET_MATTERS_CHECK_INTERVAL_S="0.5", HALLNET_HEARTBEAT_INTERVAL_S="60")
    argv = with_parent_death([sys.executable, "-m", "services.matters"])
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"),  # noqa: S603  (our own service)
                            stderr=subprocess.STDOUT, start_new_session=True)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    await harness_wait_healthy(url, "matters", proc, timeout_s)


@contextlib.asynccontextmanager
async def own_database(servers: Servers, name: str) -> AsyncIterator[str]:
    """A database of its own (for a second service of the same test site), dropped afterwards."""
    admin = await asyncpg.connect(servers.pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield servers.dsn(name)
    finally:
        admin = await asyncpg.connect(servers.pg_admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
