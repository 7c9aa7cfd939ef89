"""The back office (后台办理) in a real headless Chromium against ``hallnet up``: cases accepted at window 1 show
their cards on the clerk's console and in the department's worklist; two clerks of the department take one of
them through 审核 and 复核 (not the same person) to 办结 and 通知领取; signing out ends the session everywhere."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from hallnet.sim_cases import working_days_back
from shared.workdays import WorkCalendar
from tests.browser.test_screens import new_page, shot
from tests.e2e.test_stack_e2e import Hallnet

TZ = ZoneInfo("Asia/Shanghai")
WINDOW = 1  # 1号窗口 of zhuzhou serves queue C (退休审批与待遇)
MATTER = "yl-txsq"  # 企业职工退休申请: promised in 10 working days, 审核 → 复核, a 退休证 to collect
DEPARTMENT = "企业养老保险科"
APPLICANT = {"name": "王建国", "id_no": "430202196003151236", "phone": "13800138000"}  # made up


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def accept_at_window(http: httpx.AsyncClient, site: dict[str, Any]) -> tuple[str, str]:
    """Window 1's clerk serves a ticket for the matter and accepts its case today; a second case of the same clerk
    is dated (development clock of ``hallnet up``) so that it is due at the end of the next working day: yellow."""
    clerk = next(st for st in site["staff"] if st["window_no"] == WINDOW)
    r = await http.post(f"/queue/api/v1/windows/{WINDOW}/sign-in",
                        json={"staff_id": clerk["staff_id"], "password": clerk["password"]})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    ticket = (await http.post("/queue/api/v1/tickets", json={"matter_id": MATTER})).json()
    called = await http.post(f"/queue/api/v1/windows/{WINDOW}/call-next", headers=bearer(token))
    assert called.json()["id"] == ticket["id"], called.text
    assert (await http.post(f"/queue/api/v1/tickets/{ticket['id']}/start", headers=bearer(token))).status_code == 200
    matter = (await http.get(f"/matters/api/v1/matters/{MATTER}")).json()
    body = {"matter_id": MATTER, "ticket_id": ticket["id"], "applicant": APPLICANT,
            "provided": [m["id"] for m in matter["materials"] if m["required"]]}
    today = await http.post("/matters/api/v1/cases", json=body, headers=bearer(token))
    assert today.status_code == 201, today.text
    cal = WorkCalendar()
    accepted_on = working_days_back(cal, cal.add_working_days(datetime.now(TZ).date(), 1), matter["promised_days"])
    as_of = datetime.combine(accepted_on, dtime(10, 5), tzinfo=TZ).isoformat()
    async with httpx.AsyncClient(base_url=site["services"]["matters"], timeout=10) as direct:
        dated = await direct.post("/matters/api/v1/cases", json={**body, "ticket_id": None},
                                  headers={**bearer(token), "X-Hallnet-Dev-As-Of": as_of})
    assert dated.status_code == 201 and dated.headers.get("x-hallnet-dev-as-of"), dated.text
    assert (await http.post(f"/queue/api/v1/tickets/{ticket['id']}/complete", headers=bearer(token))).status_code == 200
    return today.json()["id"], dated.json()["id"]


async def sign_in(page: Any, member: dict[str, str]) -> None:
    await page.fill("#staff-id", member["staff_id"])
    await page.fill("#staff-pw", member["password"])
    await page.click("#signin-btn")
    await page.wait_for_selector("#desk:not(.hidden)")


async def act(page: Any, selector: str, status: str | None = None) -> None:
    """Click an action of the open case and wait for its answer (the case re-rendered, or the error shown)."""
    await page.evaluate("document.querySelector('#case-info').textContent = ''")
    await page.click(selector)
    await page.wait_for_function("document.querySelector('#case-info').textContent.length > 0 || "
                                 "document.querySelector('#error').textContent.length > 0")
    if status:
        await page.wait_for_selector(f"#case[data-status='{status}']")


@pytest.mark.e2e
async def test_a_back_office_takes_a_yellow_card_case_to_ready_for_pickup(stack: Hallnet, browser: Any) -> None:
    """The console shows the clerk's yellow card; the department's worklist lists both cases, the yellow one first;
    the reviewer cannot also recheck (the message says why); the colleague rechecks, approves and calls the
    applicant in (通知领取); after sign-out the token is refused; every screen without JavaScript errors."""
    t0 = time.monotonic()
    doc = await stack.wait_for_stack(timeout_s=120)
    site = doc["sites"][0]
    entry = site["entry"]
    members = [b for b in site["backoffice"] if b["department"] == DEPARTMENT]
    assert len(members) == 2, site["backoffice"]
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        today_id, yellow_id = await accept_at_window(http, site)
    print(f"stack up and cases accepted in {time.monotonic() - t0:.1f}s")

    # 窗口呼叫器: the clerk's own cases with their cards (首问负责)
    console = await new_page(browser, 1280, 1500)
    await console.goto(f"{entry}console?window={WINDOW}")
    clerk = next(st for st in site["staff"] if st["window_no"] == WINDOW)
    await sign_in(console, clerk)
    await console.wait_for_selector(f"#mine tr[data-case='{yellow_id}'][data-card='yellow'] .card-yellow")
    await console.wait_for_selector(f"#mine tr[data-case='{today_id}'][data-card='']")

    # 后台办理: the department's worklist, the yellow card first
    page = await new_page(browser, 1440, 1400)
    await page.goto(entry)
    await page.click("a[href='/backoffice']")
    await page.wait_for_selector("body[data-ready='1']")
    await sign_in(page, members[0])
    assert DEPARTMENT in await page.inner_text("#dept")
    row = page.locator(f"#worklist tr[data-case='{yellow_id}']")
    await row.wait_for()
    assert await row.get_attribute("data-card") == "yellow" and "黄牌" in await row.inner_text()
    assert await page.locator(f"#worklist tr[data-case='{today_id}']").get_attribute("data-card") == ""
    ids = await page.eval_on_selector_all("#worklist tr[data-case]", "rows => rows.map(r => r.dataset.case)")
    assert ids.index(yellow_id) < ids.index(today_id), ids
    assert "王**" in await row.inner_text() and "王建国" not in await page.content()

    await page.click(f"button[data-open='{yellow_id}']")
    await page.wait_for_selector(f"#case[data-case='{yellow_id}'] #case-card .card-yellow")
    await page.wait_for_function("document.querySelector('#case-materials').textContent.includes('身份证')")
    assert "138****8000" in await page.inner_text("#case-facts")
    await shot(page, "backoffice")

    await act(page, "button[data-step='review']", "accepted")
    await page.wait_for_selector("button[data-step='recheck']")
    await act(page, "button[data-step='recheck']")
    assert "复核须由审核人以外的另一人办理" in await page.inner_text("#error")
    token = await page.evaluate("sessionStorage.getItem('hallnet.backoffice.token')")
    await page.click("#signout")
    await page.wait_for_selector("#signin:not(.hidden)")
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        me = await http.get("/queue/api/v1/staff/me", headers=bearer(token))
        assert me.status_code == 401, me.text
        for _ in range(100):  # the matters service hears of the sign-out over NATS
            if (await http.get("/matters/api/v1/worklist", headers=bearer(token))).status_code == 401:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the matters service still accepts a signed-out back-office token")

    # the colleague rechecks (复核), approves (办结) and calls the applicant in (通知领取)
    await sign_in(page, members[1])
    await page.click(f"button[data-open='{yellow_id}']")
    await page.wait_for_selector(f"#case[data-case='{yellow_id}'] button[data-step='recheck']")
    await act(page, "button[data-step='recheck']", "accepted")
    await act(page, "#complete-approved", "completed")
    await act(page, "#ready", "ready_for_pickup")
    assert not await page.inner_text("#error")
    assert "待领取" in await page.inner_text("#case-status")
    history = await page.inner_text("#case-history")
    assert members[0]["staff_id"] in history and members[1]["staff_id"] in history and "通知领取" in history
    await page.wait_for_selector(f"#worklist tr[data-case='{yellow_id}'][data-card='']")
    assert not console.js_errors, console.js_errors
    print(f"back-office flow done in {time.monotonic() - t0:.1f}s")
