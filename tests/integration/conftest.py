"""A queue service of a small test site, run in-process against the real servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.queue.app import QueueApp
from services.queue.main import build_app
from shared.events.base import Envelope, parse_envelope
from shared.settings import Settings, site_stream_name
from tests.harness import Servers

PASSWORD = "pw-1234"
BACKOFFICE_DEPT = "企业养老保险科"  # b001's department (后台科室), as the matters catalog names it


def site_config(site: str, windows: int = 4) -> dict[str, Any]:
    """Two queues (A 养老, B 医保); window k serves [A, B] when odd, [B, A] when even; clerks s001…, the duty manager
    m001 and the back-office clerk b001 (企业养老保险科)."""
    return {
        "site": site, "name": "测试大厅",
        "policy": {"green_bonus_s": 900, "appointment_bonus_s": 1200, "appointment_early_s": 900,
                   "preference_step_s": 600, "max_calls": 3, "no_show_after_calls": 2, "requeue_positions": 3},
        "queues": [{"prefix": "A", "name": "养老保险", "default_service_s": 300},
                   {"prefix": "B", "name": "医疗保险", "default_service_s": 200}],
        "matters": [{"matter_id": "yl-txsq", "name": "企业职工退休申请", "queue": "A"},
                    {"matter_id": "yb-ydjy", "name": "异地就医备案", "queue": "B"}],
        "windows": [{"no": k, "name": f"{k}号窗口", "queues": ["A", "B"] if k % 2 else ["B", "A"]}
                    for k in range(1, windows + 1)],
        "staff": [{"staff_id": f"s{k:03d}", "name": f"职员{k}", "password": PASSWORD,
                   "roles": [[k, "A"]] + ([[k + 1, "B"]] if k < windows else [])}
                  for k in range(1, windows + 1)]
                 + [{"staff_id": "m001", "name": "值班长", "password": PASSWORD, "manager": True},
                    {"staff_id": "b001", "name": "后台审核员", "password": PASSWORD, "backoffice": BACKOFFICE_DEPT}],
    }


@dataclass
class QueueEnv:
    client: httpx.AsyncClient
    app: QueueApp
    settings: Settings
    nc: Any
    fastapi: Any

    async def sign_in(self, window_no: int, staff_id: str | None = None) -> dict[str, str]:
        r = await self.client.post(f"/queue/api/v1/windows/{window_no}/sign-in",
                                   json={"staff_id": staff_id or f"s{window_no:03d}", "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    async def issue(self, matter_id: str = "yl-txsq", **extra: Any) -> dict[str, Any]:
        r = await self.client.post("/queue/api/v1/tickets", json={"matter_id": matter_id, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    async def events(self, expect: int | None = None, timeout_s: float = 10.0,
                     types: tuple[str, ...] = ("queue.ticket.", "queue.window.")) -> list[Envelope]:
        """Every event of this site's stream so far (waiting until ``expect`` of ``types`` are there)."""
        return await read_stream(self.nc, self.settings.site, expect=expect, timeout_s=timeout_s, types=types)


async def read_stream(nc: Any, site: str, *, expect: int | None = None, timeout_s: float = 10.0,
                      types: tuple[str, ...] = ("queue.ticket.", "queue.window.")) -> list[Envelope]:
    js = nc.jetstream()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        sub = await js.pull_subscribe(f"hall.{site}.>", durable=None, stream=site_stream_name(site),
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        out: list[Envelope] = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.3)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for m in msgs:
                env = parse_envelope(m.data, m.subject)
                if env.type.startswith(types):
                    out.append(env)
                await m.ack()
        await sub.unsubscribe()
        if expect is None or len(out) >= expect or asyncio.get_running_loop().time() > deadline:
            return out
        await asyncio.sleep(0.2)


def make_settings(site: str, database_url: str, nats_url: str, seed: Path, **kw: Any) -> Settings:
    return Settings(site=site, site_name="测试大厅", service="queue", database_url=database_url, nats_url=nats_url,
                    token_secret="test-secret-" + site, enforce_office_hours=False, seed_file=str(seed),
                    heartbeat_interval_s=1.0, snapshot_interval_s=kw.pop("snapshot_interval_s", 3600.0), **kw)


@pytest.fixture
def windows_count() -> int:
    return 4


@pytest.fixture
async def queue_env(servers: Servers, site: str, database_url: str, tmp_path: Path,
                    windows_count: int) -> AsyncIterator[QueueEnv]:
    seed = tmp_path / "site.json"
    seed.write_text(json.dumps(site_config(site, windows_count), ensure_ascii=False), encoding="utf-8")
    settings = make_settings(site, database_url, servers.nats_url, seed)
    fastapi = build_app(settings)
    nc = await nats.connect(servers.nats_url)
    async with fastapi.router.lifespan_context(fastapi):
        transport = httpx.ASGITransport(app=fastapi)
        async with httpx.AsyncClient(transport=transport, base_url="http://queue.test") as client:
            yield QueueEnv(client=client, app=fastapi.state.queue, settings=settings, nc=nc, fastapi=fastapi)
    await nc.close()
