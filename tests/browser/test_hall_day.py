"""One hall day across roles in a real headless Chromium against a quiet ``hallnet up``: a citizen takes a ticket
for a promised matter (承诺件) at the kiosk; the display shows its call from window 1; the clerk accepts the case
with every material; two back-office clerks of the department take it through 审核 and 复核 to 办结 and 通知领取;
the duty manager's SMS log shows the pickup SMS and the rating link (masked phone); the citizen rates it 不满意 on
the phone; the duty manager follows the 差评 through 回访核实, 整改 and 办结; the central wall shows the site's
rating. Screenshots: ``docs/screenshots/hall-day-*.png``."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from tests.browser.test_screens import new_page, shot
from tests.e2e.test_stack_e2e import Hallnet

SITE = "zhuzhou"
WINDOW = 1  # 1号窗口 of zhuzhou serves queues A, B, C
MATTER = "yl-txsq"  # 企业职工退休申请 (queue C): promised in 10 working days, 审核 → 复核, a 退休证 to collect
DEPARTMENT = "企业养老保险科"
# made up; the ID number has a valid check digit (GB 11643)
APPLICANT = {"name": "陈晓明", "id_no": "43020319900101123X", "phone": "13800138000"}
PHONE_MASKED = "138****8000"
WAIT_MS = 15_000


async def see(page: Any, selector: str, what: str, timeout_ms: int = WAIT_MS, state: str = "visible") -> Any:
    """Wait for ``selector`` on ``page``; on timeout fail saying what was awaited."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        return await page.wait_for_selector(selector, state=state, timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(f"{page.url}: waited {timeout_ms / 1000:.0f}s for {what} ({selector}); "
                             f"error shown: {await error_text(page)!r}") from None


async def until(page: Any, js: str, what: str, arg: Any = None, timeout_ms: int = WAIT_MS) -> Any:
    """Wait for the JavaScript predicate ``js`` on ``page``; on timeout fail saying what was awaited."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        return await page.wait_for_function(js, arg=arg, timeout=timeout_ms)
    except PlaywrightTimeout:
        raise AssertionError(f"{page.url}: waited {timeout_ms / 1000:.0f}s for {what}; "
                             f"error shown: {await error_text(page)!r}") from None


async def error_text(page: Any) -> str:
    return str(await page.evaluate("(document.querySelector('#error') || {}).textContent || ''"))


async def sign_in(page: Any, member: dict[str, str], who: str) -> None:
    await page.fill("#staff-id", member["staff_id"])
    await page.fill("#staff-pw", member["password"])
    await page.click("#signin-btn")
    await see(page, "#desk:not(.hidden)", f"the desk after {who} {member['staff_id']} signed in")


async def case_action(page: Any, selector: str, status: str, what: str) -> None:
    """Click an action of the open case in the back office and wait until the case shows ``status``."""
    await page.evaluate("document.querySelector('#case-info').textContent = ''")
    await see(page, f"{selector}:not([disabled])", f"the button for {what}")
    await page.click(selector)
    await until(page, "document.querySelector('#case-info').textContent.startsWith('已完成')", f"{what} done")
    await see(page, f"#case[data-status='{status}']", f"the case {status} after {what}", state="attached")
    assert not await error_text(page), await error_text(page)


async def complaint_step(page: Any, row: str, act: str, note: str | None = None) -> None:
    """On the manager screen: the complaint row's button for ``act``, its form, 确定; wait until the form closes."""
    await see(page, f"{row} button[data-act='{act}']", f"the 差评 row's {act} button")
    await page.click(f"{row} button[data-act='{act}']")
    await see(page, "#cmp-modal:not(.hidden)", f"the {act} form")
    if note:
        await page.fill("#cmp-note", note)
    await page.click("#cmp-ok")
    await see(page, "#cmp-modal", f"the {act} form to close (error: see #cmp-form-error)", state="hidden")


@pytest.mark.e2e
async def test_one_hall_day_from_kiosk_to_back_office_rating_complaint_and_wall(stack: Hallnet, browser: Any) -> None:
    """Kiosk → display → console intake → back office 审核/复核/办结/领取 → SMS → phone 差评 → 整改 → wall."""
    t0 = time.monotonic()
    doc = await stack.wait_for_stack(timeout_s=120)
    site = doc["sites"][0]
    assert site["id"] == SITE, site["id"]
    entry = site["entry"]
    clerk = next(st for st in site["staff"] if st["window_no"] == WINDOW)
    manager = site["managers"][0]
    reviewer, colleague = [b for b in site["backoffice"] if b["department"] == DEPARTMENT]
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:  # what the citizen came for (the catalog)
        matter = (await http.get(f"/matters/api/v1/matters/{MATTER}")).raise_for_status().json()
    assert matter["kind"] == "promised", matter
    print(f"stack up in {time.monotonic() - t0:.1f}s")

    # 综合屏: on in the hall before anyone arrives; someone taps it once for the voice
    display = await new_page(browser, 1920, 1080)
    await display.goto(entry + "display")
    await see(display, "body[data-ready='1']", "the display's first board")
    await display.click("#enable-sound")

    # 取号机: category → matter → materials → ticket
    kiosk = await new_page(browser, 1080, 1400)
    await kiosk.goto(entry + "kiosk")
    await see(kiosk, "body[data-ready='1']", "the kiosk's catalog")
    await kiosk.click(f"button[data-category='{matter['category']}']")
    await kiosk.click(f"button[data-matter='{MATTER}']")
    await see(kiosk, "#materials li", "the materials list (一次性告知)")
    assert matter["materials"][0]["name"] in await kiosk.inner_text("#materials")
    await kiosk.click("#take")
    await see(kiosk, "#step-ticket:not(.hidden)", "the printed ticket")
    number = (await kiosk.inner_text("#ticket-number")).strip()
    assert re.fullmatch(r"C\d{3}", number), number
    await shot(kiosk, "hall-day-kiosk")

    # 窗口呼叫器: the clerk of window 1 signs in and calls; the display shows the call
    console = await new_page(browser, 1280, 1500)
    await console.goto(f"{entry}console?window={WINDOW}")
    await sign_in(console, clerk, "the window clerk")
    await console.click("#call-next")
    await until(console, "n => document.querySelector('#cur-number').textContent === n", f"{number} at the console",
                arg=number)
    await see(display, f".call[data-window='{WINDOW}'] .num:text-is('{number}')", f"{number} on window {WINDOW}'s tile")
    await until(display, "t => document.querySelector('#latest-text').textContent.includes(t)",
                f"the announcement of {number} at window {WINDOW}", arg=f"请 {number} 号到 {WINDOW} 号窗口办理")
    assert number in await display.inner_text("#recent")
    await shot(display, "hall-day-display")

    # the clerk starts, takes in the case with every material, the applicant's name, ID number and phone
    await see(console, "#start:not([disabled])", "the 开始办理 button")
    await console.click("#start")
    await until(console, "document.querySelector('#cur-status').textContent.startsWith('办理中')", "the ticket 办理中")
    await see(console, "#intake-form:not(.hidden) #materials input.provided", "the intake's materials checklist")
    assert matter["name"] in await console.inner_text("#guide-body")
    for box in await console.query_selector_all("#materials input.provided"):
        await box.check()
    await console.fill("#app-name", APPLICANT["name"])
    await console.fill("#app-id", APPLICANT["id_no"])
    await console.fill("#app-phone", APPLICANT["phone"])
    await console.click("#accept")
    await until(console, "document.querySelector('#intake-result').textContent.length > 0", "the intake's answer")
    result = await console.inner_text("#intake-result")
    assert result.startswith("已受理") and "办结期限" in result, result
    row = await see(console, "#mine tr[data-case]", "the accepted case in 我受理的办件")
    case_id = await row.get_attribute("data-case")
    assert case_id and "陈**" in await row.inner_text() and "办理中" in await row.inner_text()
    assert APPLICANT["name"] not in await console.content() and APPLICANT["id_no"] not in await console.content()
    await shot(console, "hall-day-console")
    await console.click("#complete")
    await until(console, "document.querySelector('#cur-number').textContent === '—'", "the ticket completed")
    print(f"ticket {number} served, case {case_id} accepted at {time.monotonic() - t0:.1f}s")

    # 后台办理: the reviewer does 审核; 复核 needs another person: sign out, the colleague signs in
    office = await new_page(browser, 1440, 1400)
    await office.goto(entry + "backoffice")
    await see(office, "body[data-ready='1']", "the back-office sign-in")
    await sign_in(office, reviewer, "the reviewer")
    assert DEPARTMENT in await office.inner_text("#dept")
    item = await see(office, f"#worklist tr[data-case='{case_id}']", "the case in the department's worklist")
    assert "陈**" in await item.inner_text() and f"{WINDOW} 号" in await item.inner_text()
    await office.click(f"button[data-open='{case_id}']")
    await see(office, f"#case[data-case='{case_id}']", "the open case")
    assert PHONE_MASKED in await office.inner_text("#case-facts")
    await case_action(office, "button[data-step='review']", "accepted", "审核")
    await see(office, "button[data-step='recheck']", "the 复核 step next")
    await office.click("#signout")
    await see(office, "#signin:not(.hidden)", "the sign-in after 签退")
    await sign_in(office, colleague, "the colleague")
    await office.click(f"button[data-open='{case_id}']")
    await see(office, f"#case[data-case='{case_id}'] button[data-step='recheck']", "the 复核 button for the colleague")
    await case_action(office, "button[data-step='recheck']", "accepted", "复核")
    await case_action(office, "#complete-approved", "completed", "办结（准予）")
    await case_action(office, "#ready", "ready_for_pickup", "通知领取")
    assert "待领取" in await office.inner_text("#case-status")
    history = await office.inner_text("#case-history")
    assert reviewer["staff_id"] in history and colleague["staff_id"] in history and "通知领取" in history
    await shot(office, "hall-day-backoffice")
    await see(office, "#close-case:not([disabled])", "the case's 关闭 button enabled after the actions")
    await office.click("#close-case")
    await see(office, "#case", "the case closed on the screen", state="hidden")
    await see(office, f"#worklist tr[data-case='{case_id}']:not(.sel)", "the worklist row, no longer selected")
    print(f"back office done at {time.monotonic() - t0:.1f}s")

    # 值班长: the SMS log (loaded at sign-in; its 刷新 button reads it again), with each message named
    mgr = await new_page(browser, 1360, 1600)
    await mgr.goto(entry + "manager")
    await sign_in(mgr, manager, "the duty manager")
    sms_seen = ("() => { const rows = [...document.querySelectorAll('#sms tr')].map(r => r.textContent);"
                " return rows.some(t => t.includes('领取通知') && t.includes('领取'))"
                " && rows.some(t => t.includes('评价邀请') && t.includes('/r/')); }")
    deadline = time.monotonic() + 45
    while not await mgr.evaluate(sms_seen):
        assert time.monotonic() < deadline, \
            f"no pickup SMS and rating-link SMS in the manager's SMS log after 45 s: {await mgr.inner_text('#sms')!r}"
        await asyncio.sleep(1)
        await mgr.click("#sms-refresh")
    texts = [t for t in await mgr.eval_on_selector_all("#sms tr", "rows => rows.map(r => r.innerText)")
             if "领取通知" in t or "评价邀请" in t]
    assert len(texts) == 2 and all(PHONE_MASKED in t for t in texts), texts
    pickup = next(t for t in texts if "领取通知" in t)
    assert "领取" in pickup and matter["pickup"]["item"] in pickup, pickup
    link = re.search(r"https?://\S+/r/[0-9a-f-]{36}", next(t for t in texts if "评价邀请" in t))
    assert link, texts
    await shot(mgr, "hall-day-sms")
    print(f"SMS seen at {time.monotonic() - t0:.1f}s: {texts}")

    # the citizen's phone: the SMS link, 不满意 with a reason
    phone = await new_page(browser, 390, 844, mobile=True)
    await phone.goto(link.group(0))
    await until(phone, "document.body.dataset.screen === 'rate'", "the rating form behind the SMS link")
    invitation_id = link.group(0).rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:  # the link is the case's 一事一评
        inv = (await http.get(f"/ratings/api/v1/invitations/{invitation_id}")).raise_for_status().json()
    assert (inv["subject"], inv["subject_id"]) == ("case", case_id), inv
    await phone.click("button[data-level='2']")
    await see(phone, "button[data-reason='slow_service']", "the reasons of a bad rating")
    await phone.click("button[data-reason='slow_service']")
    assert "不满意" in await phone.inner_text("button[data-level='2']")
    await shot(phone, "hall-day-rate")
    await phone.click("#submit-rating")
    await until(phone, "document.body.dataset.screen === 'thanks'", "the thank-you after rating")
    assert "感谢" in await phone.inner_text("#thanks")

    # 值班长 · 差评整改: 回访核实 → 整改 (now) → 办结
    row_sel = f"#complaints tr[data-window='{WINDOW}']"
    deadline = time.monotonic() + 30
    while not await mgr.locator(f"{row_sel}[data-status='open']").count():
        assert time.monotonic() < deadline, f"no open 差评 of window {WINDOW} after 30 s (刷新 clicked each second)"
        await mgr.click("#cmp-refresh")
        await asyncio.sleep(1)
    complaint = await mgr.inner_text(row_sel)
    assert "不满意" in complaint and "办理效率低" in complaint and clerk["staff_id"] in complaint, complaint
    await complaint_step(mgr, row_sel, "verify", "已电话回访申请人，反映审批环节等待时间较长")
    await see(mgr, f"{row_sel}[data-status='verified']", "the 差评 verified")
    await complaint_step(mgr, row_sel, "rectify", "已提醒后台科室按承诺时限尽快办理并主动告知进度")
    await see(mgr, f"{row_sel}[data-status='rectified']", "the 差评 rectified")
    await complaint_step(mgr, row_sel, "close", "整改完成")
    await see(mgr, row_sel, "the 差评 off the to-do list (办结)", state="detached")
    await mgr.select_option("#cmp-filter", "all")
    done = await see(mgr, f"{row_sel}[data-status='closed']", "the closed 差评 under 全部")
    assert "已整改" in await done.inner_text()
    await shot(mgr, "hall-day-manager")
    print(f"complaint closed at {time.monotonic() - t0:.1f}s")

    # 监管大屏: the supervisor signs in; the site shows today's satisfaction and participation with the rating
    wall = await new_page(browser, 1920, 1080)
    await wall.goto(doc["central"]["entry"])
    await see(wall, "body[data-ready='1']", "the wall's sites")
    supervisor = doc["central"]["supervisors"][0]
    await wall.click("#signin-open")
    await wall.fill("#user", supervisor["user"])
    await wall.fill("#pw", supervisor["password"])
    await wall.click("#signin-btn")
    await see(wall, "#signin", "the sign-in form to close", state="hidden")
    assert supervisor["user"] in await wall.inner_text("#who")
    tile = f"[data-site='{SITE}']"
    await until(wall, "sel => /满意率 \\d+%/.test((document.querySelector(sel) || {}).textContent || '')",
                f"today's satisfaction on the {SITE} tile (a rating counted)", arg=tile, timeout_ms=30_000)
    await wall.click(tile)
    await see(wall, "#detail:not(.hidden)", f"the {SITE} drill-down")
    await until(wall, "() => /参评率\\s*[1-9]\\d*%/.test(document.querySelector('#detail-figures').innerText) && "
                "/未结差评\\s*0/.test(document.querySelector('#detail-figures').innerText)",
                "participation > 0 and no open 差评 in the drill-down", timeout_ms=30_000)
    figures = await wall.inner_text("#detail-figures")
    token = await wall.evaluate("sessionStorage.getItem('hallnet.wall.token')")
    async with httpx.AsyncClient(base_url=doc["central"]["entry"].removesuffix("/wall"), timeout=10) as http:
        today = (await http.get(f"/central/api/v1/sites/{SITE}", headers={"Authorization": f"Bearer {token}"})
                 ).raise_for_status().json()["today"]
    assert today["rated"] >= 1 and today["served"] >= 1 and today["bad_ratings"] >= 1, today  # the wall shows no count
    await shot(wall, "hall-day-wall")
    print(f"wall: {figures!r}; hall day done in {time.monotonic() - t0:.1f}s")
