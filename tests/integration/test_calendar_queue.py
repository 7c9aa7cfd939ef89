"""The kiosk follows the site's calendar, against real PostgreSQL and NATS, with the development-mode test clock:
on 元旦 2027 a ticket is refused with a clear Chinese 409, on Monday 4 January one is issued, and a site override
published by matters into ``calendar_<site>`` reaches the queue through the shared watcher."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import nats
import pytest

from services.queue.main import build_app
from shared.calendar_sync import SiteLayers, publish_layers
from tests.harness import Servers
from tests.integration.conftest import QueueEnv, make_settings, site_config


@pytest.fixture
async def open_hall(servers: Servers, site: str, database_url: str, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[QueueEnv]:
    """The queue service in-process with office hours enforced and the test clock switched on."""
    monkeypatch.setenv("HALLNET_DEV_MODE", "true")
    monkeypatch.setenv("HALLNET_DEV_NOW", "2027-01-01T10:00:00+08:00")
    seed = tmp_path / "site.json"
    seed.write_text(json.dumps(site_config(site, 2), ensure_ascii=False), encoding="utf-8")
    settings = make_settings(site, database_url, servers.nats_url, seed).model_copy(
        update={"enforce_office_hours": True})
    fastapi = build_app(settings)
    nc = await nats.connect(servers.nats_url)
    async with fastapi.router.lifespan_context(fastapi):
        transport = httpx.ASGITransport(app=fastapi)
        async with httpx.AsyncClient(transport=transport, base_url="http://queue.test") as client:
            yield QueueEnv(client=client, app=fastapi.state.queue, settings=settings, nc=nc, fastapi=fastapi)
    await nc.close()


async def test_new_year_2027_is_refused_and_the_next_monday_issues(open_hall: QueueEnv,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """2027-01-01 10:00 (元旦, no arrangement installed): 409 naming the holiday; 2027-01-04 10:00: 201."""
    r = await open_hall.client.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"})
    assert r.status_code == 409, r.text
    assert "今天是法定节假日（元旦），大厅不办公" in r.json()["message"]
    assert "statutory holiday" in r.json()["message"]
    monkeypatch.setenv("HALLNET_DEV_NOW", "2027-01-04T10:00:00+08:00")
    ticket = await open_hall.issue()
    assert ticket["status"] == "waiting"


async def test_an_override_published_by_matters_reaches_the_kiosk(open_hall: QueueEnv,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Matters publishes Mon 2027-01-04 as a site holiday into calendar_<site>: the kiosk refuses that day."""
    monkeypatch.setenv("HALLNET_DEV_NOW", "2027-01-04T10:00:00+08:00")
    js = open_hall.nc.jetstream()
    assert await publish_layers(js, open_hall.settings.site, SiteLayers({date(2027, 1, 4): False}))
    deadline = time.monotonic() + 10
    while open_hall.app.ctx.calendar.is_workday(date(2027, 1, 4)):
        assert time.monotonic() < deadline, "the queue never saw the site's calendar"
        await asyncio.sleep(0.1)
    r = await open_hall.client.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"})
    assert r.status_code == 409 and "今天是节假日" in r.json()["message"], r.text
