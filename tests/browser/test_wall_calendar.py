"""The central wall in a real headless Chromium against ``hallnet up``: a supervisor publishes next year's holiday
arrangement (放假安排), sees the version in force and each site's state, then opens a site's attendance (考勤);
``docs/screenshots/wall-calendar.png`` and ``wall-attendance.png``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browser.test_screens import new_page, shot
from tests.e2e.test_stack_e2e import Hallnet

TZ = ZoneInfo("Asia/Shanghai")
YEAR = 2027
SOURCE = "国办发明电〔2026〕7号"
APPLIED_WITHIN_MS = 65_000  # a site online applies a publication within 60 s


@pytest.mark.e2e
async def test_a_supervisor_publishes_the_holiday_arrangement_and_reads_attendance(stack: Hallnet,
                                                                                   browser: Any) -> None:
    """Banner → 422 message → publish 2027 → version and site state → a site's attendance with window 1's sign-in."""
    t0 = time.monotonic()
    doc = await stack.wait_for_stack(timeout_s=120)
    site = doc["sites"][0]
    supervisor = doc["central"]["supervisors"][0]
    clerk = next(st for st in site["staff"] if st["window_no"] == 1)
    async with httpx.AsyncClient(base_url=site["entry"], timeout=10) as http:  # window 1 signed in: one attendance row
        r = await http.post("/queue/api/v1/windows/1/sign-in",
                            json={"staff_id": clerk["staff_id"], "password": clerk["password"]})
        assert r.status_code == 200, r.text

    wall = await new_page(browser, 1920, 1080)
    await wall.goto(doc["central"]["entry"])
    await wall.wait_for_selector("body[data-ready='1']")  # the sites from the stream
    assert await wall.is_visible("#cal-signin") and await wall.is_hidden("#cal-form")
    assert await wall.is_hidden("#calendar-banner"), "the banner needs the supervisor's token"
    await wall.click("#signin-open")
    await wall.fill("#user", supervisor["user"])
    await wall.fill("#pw", supervisor["password"])
    await wall.click("#signin-btn")
    await wall.wait_for_selector("#cal-form:not(.hidden)")
    await wall.fill("#cal-year", str(YEAR))
    await wall.dispatch_event("#cal-year", "change")
    await wall.wait_for_selector(f"body[data-calendar='{YEAR}:0']")  # the year read: nothing published yet
    now = datetime.now(TZ)
    if now.month >= 11 and now.year + 1 == YEAR:  # from 1 November: next year's arrangement is missing
        await wall.wait_for_selector("#calendar-banner:not(.hidden)")
        assert f"{YEAR}年放假安排尚未发布" in await wall.inner_text("#calendar-banner")

    # a weekday as make-up day: central's 422 message is shown, nothing published
    await wall.fill("#cal-holidays", "2027-02-05\n2027-02-09 ~ 2027-02-11")
    await wall.fill("#cal-workdays", "2027-02-22")
    await wall.fill("#cal-source", SOURCE)
    assert "放假（工作日）4 天" in await wall.inner_text("#cal-preview")
    await wall.click("#cal-publish")
    await wall.wait_for_function("document.querySelector('#cal-error').textContent.length > 0", timeout=10_000)
    assert "调休" in await wall.inner_text("#cal-error")  # central's message: a make-up day must be a weekend day
    assert await wall.locator("#cal-version").count() == 0

    await wall.fill("#cal-workdays", "2027-02-20")
    await wall.click("#cal-publish")
    await wall.wait_for_selector("#cal-version[data-version='1']", timeout=10_000)  # the PUT's answer
    version = await wall.inner_text("#cal-version")
    assert SOURCE in version and "02-05、02-09、02-10、02-11" in version and "02-20" in version, version
    assert not await wall.inner_text("#cal-error")
    assert await wall.is_hidden("#calendar-banner")
    rows = wall.locator("#cal-state tr[data-cal-site]")
    assert await rows.count() == len(doc["sites"])
    # a site online applies it within 60 s (the screen reads the state again every 5 s meanwhile); a stack whose sites
    # have no working downlink shows them 未应用: then the published version is what can be asserted
    try:
        await wall.wait_for_function(
            "n => document.querySelectorAll(\"#cal-state tr[data-applied='current']\").length === n",
            arg=len(doc["sites"]), timeout=APPLIED_WITHIN_MS)
        assert "已应用 第1版" in await wall.inner_text(f"#cal-state tr[data-cal-site='{site['id']}']")
        print(f"applied at {len(doc['sites'])} sites after {time.monotonic() - t0:.1f}s")
    except PlaywrightTimeout:
        states = await wall.eval_on_selector_all("#cal-state tr[data-cal-site]",
                                                 "rs => rs.map(r => r.dataset.calSite + ':' + r.dataset.applied)")
        print(f"not applied by every site within {APPLIED_WITHIN_MS / 1000:.0f}s (no downlink?): {states}")
        assert all(s.split(":")[1] in ("none", "old", "current") for s in states), states
        assert "未应用" in await wall.inner_text("#cal-state") or "旧版" in await wall.inner_text("#cal-state")
    await shot(wall, "wall-calendar")

    # 考勤: the site's drill-down shows window 1 signed in today
    await wall.click(f"[data-site='{site['id']}']")
    await wall.wait_for_selector("#detail:not(.hidden)")
    row = wall.locator("#attendance tr[data-att-window='1']")
    await row.wait_for(timeout=30_000)  # window 1's sign-in has reached central (read again on the site's events)
    await wall.wait_for_function(
        "s => (document.querySelector(\"#attendance tr[data-att-window='1']\")?.textContent || '').includes(s)",
        arg=clerk["staff_id"], timeout=30_000)
    cells = await row.locator("td").all_inner_texts()
    assert cells[0] == "1" and cells[1] == clerk["staff_id"] and cells[2] != "—", cells
    assert await wall.input_value("#att-date") == now.date().isoformat()
    await wall.locator("#attendance-view").scroll_into_view_if_needed()
    await shot(wall, "wall-attendance")
