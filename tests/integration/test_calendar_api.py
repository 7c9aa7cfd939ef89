"""The site's calendar through the matters API against real PostgreSQL and NATS: 2027 provisional with the
statutory days, an installed arrangement makes it official and moves open deadlines in the same transaction,
2026 official from chinesecalendar, and bad arrangements refused with a clear 4xx."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats.js.errors
import pytest

from shared.calendar_sync import SiteLayers, bucket_name
from tests.harness import Servers
from tests.integration.matters_fixtures import PREFIX, MattersEnv, start_matters

ARRANGEMENT_2027 = {"holidays": ["2027-02-09", "2027-02-10", "2027-02-11", "2027-10-04", "2027-10-05"],
                    "workdays": ["2027-02-20", "2027-10-09"], "source": "国办发明电〔2026〕X号"}


@pytest.fixture
async def env(servers: Servers, site: str, database_url: str, tmp_path: Path) -> AsyncIterator[MattersEnv]:
    async with start_matters(servers, site, database_url, tmp_path) as e:
        yield e


async def test_2027_is_provisional_with_its_statutory_weekdays(env: MattersEnv) -> None:
    """GET /calendar/2027 without an arrangement: provisional, the law as source, the weekday statutory days."""
    r = await env.client.get(f"{PREFIX}/calendar/2027")
    assert r.status_code == 200
    body = r.json()
    assert body["year"] == 2027 and body["status"] == "provisional" and "2024年修订" in body["source"]
    assert body["holidays"] == ["2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-06-09",
                                "2027-09-15", "2027-10-01"]
    assert body["workdays"] == []


async def test_2026_is_official_from_the_package(env: MattersEnv) -> None:
    """GET /calendar/2026: official (chinesecalendar), with the 调休 Saturdays of the Spring Festival."""
    body = (await env.client.get(f"{PREFIX}/calendar/2026")).json()
    assert body["status"] == "official" and body["source"].startswith("chinesecalendar")
    assert "2026-02-14" in body["workdays"] and "2026-02-16" in body["holidays"]


async def test_installing_the_arrangement_makes_2027_official_and_moves_open_deadlines(env: MattersEnv) -> None:
    """A manager installs 2027's arrangement: official with its source; a case over the Spring Festival moves."""
    env.clock.set(2027, 2, 3, 10)  # accepted on Wed 2027-02-03 (the real clock cannot get there: a test clock)
    receipt = await env.accept("yl-txsq")
    assert receipt["case"]["due_on"] == "2027-02-19"  # provisional: 02-04, (02-05..02-08 off), 02-09 … 02-19
    r = await env.client.put(f"{PREFIX}/calendar/2027/arrangement", json=ARRANGEMENT_2027, headers=env.auth())
    assert r.status_code == 403
    r = await env.client.put(f"{PREFIX}/calendar/2027/arrangement", json=ARRANGEMENT_2027, headers=env.manager)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "official" and body["source"] == "国办发明电〔2026〕X号" and body["cases_moved"] == 1
    assert body["workdays"] == ["2027-02-20", "2027-10-09"]
    assert "2027-02-09" in body["holidays"] and "2027-02-05" in body["holidays"]
    case = (await env.client.get(f"{PREFIX}/cases/{receipt['id']}", headers=env.auth())).json()
    # 02-04 (1), then 02-05..02-11 off, 02-12 (2), 02-15..02-19 (3–7), Sat 02-20 (8, 调休), 02-22 (9), 02-23 (10)
    assert case["due_on"] == "2027-02-23"
    assert (await env.client.get(f"{PREFIX}/calendar/2027")).json()["status"] == "official"
    days = (await env.client.get(f"{PREFIX}/working-days", params={"start": "2027-02-03", "days": 10})).json()
    assert days["due"] == "2027-02-23" and days["warnings"] == []


async def test_bad_arrangements_are_refused_and_change_nothing(env: MattersEnv) -> None:
    """A date of another year, a Saturday 'holiday', a day both off and worked, an unknown field: 422."""
    bads = [{**ARRANGEMENT_2027, "holidays": ["2026-12-31"]},
            {**ARRANGEMENT_2027, "holidays": ["2027-02-13"]},
            {**ARRANGEMENT_2027, "workdays": ["2027-02-09", "2027-02-20"]},
            {**ARRANGEMENT_2027, "extra": 1},
            {**ARRANGEMENT_2027, "source": ""}]
    for bad in bads:
        r = await env.client.put(f"{PREFIX}/calendar/2027/arrangement", json=bad, headers=env.manager)
        assert r.status_code == 422, (bad, r.text)
    assert (await env.client.get(f"{PREFIX}/calendar/2027")).json()["status"] == "provisional"
    assert (await env.client.get(f"{PREFIX}/calendar/1990")).status_code == 422


async def test_the_installed_arrangement_is_published_for_the_other_services(env: MattersEnv) -> None:
    """After the install, calendar_<site> holds the 2027 arrangement (what ratings, notify and the queue watch)."""
    r = await env.client.put(f"{PREFIX}/calendar/2027/arrangement", json=ARRANGEMENT_2027, headers=env.manager)
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(nats.js.errors.BucketNotFoundError, nats.js.errors.KeyNotFoundError):
            kv = await env.nc.jetstream().key_value(bucket_name(env.settings.site))
            layers = SiteLayers.decode((await kv.get("layers")).value)
            if 2027 in layers.arrangements:
                break
        assert time.monotonic() < deadline, "the arrangement never reached calendar_<site>"
        await asyncio.sleep(0.1)
    assert layers.arrangements[2027].source == "国办发明电〔2026〕X号"
    assert layers.calendar().status(2027) == "official"
