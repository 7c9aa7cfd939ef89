"""差评整改 on the duty manager's screen, in a real headless Chromium: a site's queue, matters, ratings and notify
services (real PostgreSQL and NATS, in-process, each on its own port) behind the gateway process (``python -m
services.gateway``). Citizens rate three services badly through the gateway; duty manager m001 reads what they said
and follows one complaint through 回访核实 → 整改 (by a date, then done) → 办结, and appeals another; m001 cannot
approve their own appeal, a second manager m002 approves it (复核) and the rating is voided. Screenshot:
``docs/screenshots/manager-complaints.png``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hallnet.embedded import free_port, with_parent_death
from services.matters.main import build_app as matters_app
from services.notify.main import build_app as notify_app
from services.notify.providers import LocalProvider
from services.queue.main import build_app as queue_app
from services.ratings.main import build_app as ratings_app
from tests.harness import Servers
from tests.integration.conftest import PASSWORD, make_settings, site_config
from tests.integration.matters_fixtures import matters_settings, own_database
from tests.integration.notify_fixtures import notify_settings
from tests.integration.ratings_fixtures import ratings_settings

ROOT = Path(__file__).resolve().parents[2]
SHOT = ROOT / "docs" / "screenshots" / "manager-complaints.png"
CHROMIUM = Path(os.environ.get("HALLNET_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 15_000
# what three citizens say (window → level, reason tags, their words)
BAD = {1: (1, ["long_wait", "bad_attitude"], "排队一个多小时，窗口人员还不耐烦"),
       2: (2, ["not_told_at_once"], "材料要求没有一次说清楚，跑了两趟"),
       3: (1, ["left_window"], "窗口十分钟没人")}


@contextlib.asynccontextmanager
async def serving(fastapi: Any) -> AsyncIterator[str]:
    """A service's app with its lifespan (connections, migrations, consumers), on a port of its own."""
    port = free_port()
    async with fastapi.router.lifespan_context(fastapi):
        server = uvicorn.Server(uvicorn.Config(fastapi, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                               timeout_graceful_shutdown=2))
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not task.done(), "the service did not start"
                await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


def spawn_gateway(site: str, upstreams: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """``python -m services.gateway`` as ``hallnet up`` starts it, in front of ``upstreams``."""
    env = {**os.environ, "HALLNET_SITE": site, "HALLNET_SITE_NAME": "测试大厅", "HALLNET_HTTP_PORT": str(port),
           "HALLNET_LOG_FORMAT": "json", "HALLNET_UPSTREAMS": json.dumps(upstreams)}
    return subprocess.Popen(with_parent_death([sys.executable, "-m", "services.gateway"]), cwd=ROOT, env=env,  # noqa: S603 - our own service, argv list, no shell
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextlib.asynccontextmanager
async def gateway(site: str, upstreams: dict[str, str]) -> AsyncIterator[str]:
    port = free_port()
    proc = await asyncio.to_thread(spawn_gateway, site, upstreams, port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient() as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(base + "/gateway/api/v1/health", timeout=1)).status_code == 200:
                        break
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "gateway exited"
                assert time.monotonic() < deadline, "the gateway did not answer its health check in 20 s"
                await asyncio.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)


def site_file(site: str, tmp_path: Path) -> Path:
    """The queue's site file: three windows, their clerks, and two duty managers; fails first without chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium (`apt-get install chromium`)")
    config = site_config(site, 3)
    config["staff"].append({"staff_id": "m002", "name": "副值班长", "password": PASSWORD, "manager": True})
    seed = tmp_path / "site.json"
    seed.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return seed


@pytest.fixture
async def entry(servers: Servers, site: str, database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The site behind its gateway: queue (two duty managers, m001 and m002), matters, ratings, notify."""
    seed = await asyncio.to_thread(site_file, site, tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        dbs = [await stack.enter_async_context(own_database(servers, f"{site}_{name}"))
               for name in ("matters", "ratings", "notify")]
        queue = await stack.enter_async_context(serving(queue_app(make_settings(site, database_url,
                                                                                servers.nats_url, seed))))
        matters = await stack.enter_async_context(serving(matters_app(matters_settings(
            site, dbs[0], servers.nats_url, None))))
        ratings = await stack.enter_async_context(serving(ratings_app(ratings_settings(
            site, dbs[1], servers.nats_url))))
        notify = await stack.enter_async_context(serving(notify_app(notify_settings(
            site, dbs[2], servers.nats_url, queue_url=queue), provider=LocalProvider())))
        yield await stack.enter_async_context(gateway(site, {"queue": queue, "matters": matters,
                                                             "ratings": ratings, "notify": notify}))


async def rate_badly(http: httpx.AsyncClient, window_no: int) -> None:
    """A ticket served at ``window_no`` by its clerk and rated badly by the citizen (the phone's rating call)."""
    r = await http.post(f"/queue/api/v1/windows/{window_no}/sign-in",
                        json={"staff_id": f"s{window_no:03d}", "password": PASSWORD})
    clerk = {"Authorization": f"Bearer {r.raise_for_status().json()['token']}"}
    ticket = (await http.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"})).raise_for_status().json()
    called = (await http.post(f"/queue/api/v1/windows/{window_no}/call-next", headers=clerk)).raise_for_status()
    assert called.json()["id"] == ticket["id"]
    for step in ("start", "complete"):
        (await http.post(f"/queue/api/v1/tickets/{ticket['id']}/{step}", headers=clerk)).raise_for_status()
    async with asyncio.timeout(15):
        while (inv := await http.get(f"/ratings/api/v1/windows/{window_no}/invitation")).status_code != 200 \
                or inv.json()["subject_id"] != ticket["id"]:
            await asyncio.sleep(0.1)
    level, reasons, text = BAD[window_no]
    rated = await http.post(f"/ratings/api/v1/invitations/{inv.json()['id']}/rating",
                            json={"level": level, "reasons": reasons, "text": text,
                                  "indicators": {"attitude": level, "efficiency": 2}})
    assert rated.status_code == 201, rated.text


async def manager_page(browser: Any, entry: str, staff_id: str) -> Any:
    ctx = await browser.new_context(viewport={"width": 1360, "height": 1000}, locale="zh-CN",
                                    timezone_id="Asia/Shanghai")
    page = await ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    await page.goto(entry + "/manager")
    await page.fill("#staff-id", staff_id)
    await page.fill("#staff-pw", PASSWORD)
    await page.click("#signin-btn")
    await page.wait_for_selector("#desk:not(.hidden)")
    await page.wait_for_selector("body[data-complaints='1']")
    return page


def row(window_no: int) -> str:
    return f"#complaints tr[data-window='{window_no}']"


async def step(page: Any, window_no: int, act: str, note: str | None = None, by: str | None = None) -> None:
    """Click the row's button for ``act``, fill the step's form, confirm, and wait until the form is gone."""
    await page.click(f"{row(window_no)} button[data-act='{act}']")
    await page.wait_for_selector("#cmp-modal:not(.hidden)")
    if by:
        await page.check("#cmp-later")
        await page.fill("#cmp-by", by)
    if note:
        await page.fill("#cmp-note", note)
    await page.click("#cmp-ok")
    await page.wait_for_selector("#cmp-modal", state="hidden")


async def test_a_bad_rating_is_followed_to_its_end_from_the_manager_screen(entry: str) -> None:
    """m001 reads the matter rated, level, indicators, reasons and the citizen's words; follows window 1 through
    verify → rectify by a date → rectified → close (never offered close before rectifying), appeals window 2 and
    cannot approve it; m002 approves it after a required reason; the rating is voided at the site; screenshot saved."""
    from playwright.async_api import async_playwright

    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        for window_no in BAD:
            await rate_badly(http, window_no)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                           args=["--no-sandbox", "--disable-dev-shm-usage", "--lang=zh-CN"])
        try:
            m1 = await manager_page(browser, entry, "m001")
            await m1.wait_for_selector("#complaints button[data-act='verify']")
            assert await m1.locator("#complaints tr[data-status='open']").count() == 3
            text = await m1.inner_text("#complaints")
            for _, _, words in BAD.values():
                assert words in text
            assert "非常不满意" in text and "等候时间长" in text and "服务态度 非常不满意" in text
            assert "剩 5 个工作日" in text, text  # due the 5th working day after today (次日起算)
            # what was rated: the matter by its catalog name, and a window service (一次一评)
            await m1.wait_for_function("[...document.querySelectorAll('#complaints .cmp-subject')]"
                                       ".every(e => e.textContent.includes('企业职工退休申请'))")
            assert "窗口服务 · 一次一评" in await m1.inner_text(row(1))

            await step(m1, 1, "verify", "已电话回访，群众反映属实")
            await m1.wait_for_selector(f"{row(1)}[data-status='verified']")
            assert await m1.locator(f"{row(1)} button[data-act='close']").count() == 0  # no 409 to be had
            due_day = await m1.locator(f"{row(1)} td:nth-child(5) div").first.inner_text()
            await step(m1, 1, "rectify", "增开一个综合窗口", by=due_day)
            await m1.wait_for_selector(f"{row(1)}[data-status='rectifying']")
            assert f"整改期限 {due_day}" in await m1.inner_text(row(1))
            await step(m1, 1, "rectify", "已增开窗口并对工作人员批评教育")
            await m1.wait_for_selector(f"{row(1)}[data-status='rectified']")
            await step(m1, 1, "close")
            await m1.wait_for_selector(row(1), state="detached")  # closed: off the to-do list

            await step(m1, 2, "appeal", "办件系统显示材料清单已当面告知并签字")
            await m1.wait_for_selector(f"{row(2)}[data-status='appealed']")
            assert await m1.locator(f"{row(2)} button").count() == 0
            assert "申诉须由另一位值班长复核" in await m1.inner_text(row(2))

            m2 = await manager_page(browser, entry, "m002")
            await m2.wait_for_selector(f"{row(2)} button[data-act='approve']")
            assert await m2.locator(f"{row(2)} button[data-act='reject']").count() == 1
            await m2.locator("#complaint-desk").screenshot(path=str(SHOT))
            await m2.click(f"{row(2)} button[data-act='approve']")
            await m2.click("#cmp-ok")  # no reason given: the form says so, nothing is sent
            assert "作废理由" in await m2.inner_text("#cmp-form-error")
            await m2.fill("#cmp-note", "调取签字确认单，申诉成立")
            await m2.click("#cmp-ok")
            await m2.wait_for_selector(row(2), state="detached")
            await m2.select_option("#cmp-filter", "all")
            closed = await m2.inner_text("#complaints")
            assert "申诉成立，差评作废" in closed and "复核通过 · m002" in closed and "申诉 · m001" in closed
            assert not m1.js_errors and not m2.js_errors, (m1.js_errors, m2.js_errors)
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        (stats,) = (await http.get("/ratings/api/v1/stats", params={"from": day, "to": day, "group_by": "day"})
                    ).json()["rows"]
        assert (stats["submitted"], stats["voided"], stats["bad"]) == (2, 1, 2)
        assert (await http.get("/ratings/api/v1/chain/verify")).json()["ok"]
