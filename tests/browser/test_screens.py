"""The screens in a real headless Chromium against a federation started with ``hallnet up``: a ticket taken at
the kiosk is called from the console, announced by the display, followed on the phone, served, and rated at
the pad; every screen is saved to ``docs/screenshots/``."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_stack_e2e import Hallnet

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
WINDOW = 1  # 1号窗口 of the zhuzhou demo site serves queues A, B, C
TIMEOUT_MS = 15_000


async def new_page(browser: Any, width: int = 1280, height: int = 900, *, mobile: bool = False) -> Any:
    ctx = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                    timezone_id="Asia/Shanghai", is_mobile=mobile, has_touch=mobile)
    page = await ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert not page.js_errors, f"{name}: JavaScript errors {page.js_errors}"


async def levels_fit(page: Any) -> bool:
    """Every rating level button holds its stars and label (nothing wider than the button or the page)."""
    return bool(await page.evaluate(
        """() => document.documentElement.scrollWidth <= document.documentElement.clientWidth &&
           [...document.querySelectorAll('.levels button')].every(b => { const r = b.getBoundingClientRect();
             return b.scrollWidth <= b.clientWidth + 1 && [...b.children].every(c => {
               const q = c.getBoundingClientRect();
               return q.left >= r.left - 0.5 && q.right <= r.right + 0.5; }); })"""))


async def pick_matter(entry: str) -> dict[str, Any]:
    """A matter whose queue window 1 serves (prefix A), with its category, read through the gateway."""
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        served = (await http.get("/queue/api/v1/matters")).raise_for_status().json()
        catalog = {m["id"]: m for m in (await http.get("/matters/api/v1/matters")).raise_for_status().json()}
    m = next(m for m in served if m["queue_prefix"] == "A" and m["matter_id"] in catalog
             and catalog[m["matter_id"]]["materials"])
    return {**catalog[m["matter_id"]], "queue_prefix": "A"}


@pytest.mark.e2e
async def test_a_ticket_goes_from_kiosk_to_console_display_and_pad(stack: Hallnet, browser: Any) -> None:
    """Kiosk ticket → console call (display speech queue holds the announcement, again on recall) → phone page
    shows the window → intake gives the 一次性告知单 → complete → pad rating → thank-you; a green-channel ticket
    rated badly by phone reaches the manager and the central wall; every screen saved."""
    t0 = time.monotonic()
    doc = await stack.wait_for_stack(timeout_s=120)
    site = doc["sites"][0]
    entry = site["entry"]
    assert entry == site["services"]["gateway"] + "/", f"the site entry is not the gateway: {entry}"
    clerk = next(st for st in site["staff"] if st["window_no"] == WINDOW)
    manager = site["managers"][0]
    matter = await pick_matter(entry)
    print(f"stack up in {time.monotonic() - t0:.1f}s")

    # the hall display and the pad are already on when the citizen arrives
    display = await new_page(browser, 1920, 1080)
    await display.goto(entry + "display")
    await display.wait_for_selector("body[data-ready='1']")
    pad = await new_page(browser, 1024, 768)
    await pad.goto(f"{entry}pad?window={WINDOW}")
    await pad.wait_for_selector("body[data-ready='1']")
    await shot(pad, "pad-idle")

    # 取号机: category → matter → materials (一次性告知) → ticket with QR
    kiosk = await new_page(browser, 1080, 1400)
    await kiosk.goto(entry + "kiosk")
    await kiosk.wait_for_selector("body[data-ready='1']")
    await kiosk.click(f"button[data-category='{matter['category']}']")
    await kiosk.click(f"button[data-matter='{matter['id']}']")
    items = kiosk.locator("#materials li")
    await items.first.wait_for()
    assert await items.count() == len(matter["materials"])
    assert matter["materials"][0]["name"] in await kiosk.inner_text("#materials")
    await kiosk.fill("#phone", "138 0013 8000")  # SMS when called (the number goes to the notify service only)
    await shot(kiosk, "kiosk-materials")
    await kiosk.click("#take")
    await kiosk.wait_for_selector("#step-ticket:not(.hidden)")
    number = (await kiosk.inner_text("#ticket-number")).strip()
    assert re.fullmatch(r"A\d{3}", number), number
    assert "前面还有 0 人" in await kiosk.inner_text("#ticket-ahead")
    qr_src = await kiosk.get_attribute("#ticket-qr img", "src")
    assert qr_src and qr_src.startswith("/qr.svg?data=")
    ticket_id = re.search(r"%2Ft%2F([0-9a-f-]{36})", qr_src).group(1)  # type: ignore[union-attr]
    await kiosk.wait_for_function("document.querySelector('#ticket-qr img').complete")
    assert await kiosk.evaluate("document.querySelector('#ticket-qr img').naturalWidth") > 0, "the QR did not render"
    await kiosk.wait_for_function("document.querySelector('#ticket-sms').textContent.includes('138****8000')")
    await shot(kiosk, "kiosk")
    await kiosk.emulate_media(media="print")  # the receipt printer's view: the slip only, no buttons or header
    assert await kiosk.is_hidden("header.bar") and await kiosk.is_hidden("#print")
    assert await kiosk.is_visible("#ticket-number") and await kiosk.is_visible("#ticket-qr img")
    await shot(kiosk, "kiosk-print")
    await kiosk.emulate_media(media="screen")

    # the citizen follows the ticket on a phone
    phone = await new_page(browser, 390, 844, mobile=True)
    await phone.goto(f"{entry}t/{ticket_id}")
    await phone.wait_for_function("document.body.dataset.status === 'waiting'")
    assert (await phone.inner_text("#number")).strip() == number

    # 窗口呼叫器: sign in, call next
    console = await new_page(browser, 1280, 1300)
    await console.goto(f"{entry}console?window={WINDOW}")
    await console.fill("#staff-id", clerk["staff_id"])
    await console.fill("#staff-pw", clerk["password"])
    await console.click("#signin-btn")
    await console.wait_for_selector("#desk:not(.hidden)")
    await console.click("#call-next")
    await console.wait_for_function(f"document.querySelector('#cur-number').textContent === '{number}'")

    # 综合屏: the announcement waits in the speech queue (headless: no sound until someone taps the overlay)
    words = f"请{number}号到{WINDOW}号窗口办理"
    await display.wait_for_function("w => window.hallnetSpeech.queue.includes(w)", arg=words)
    await display.wait_for_selector(f".call[data-window='{WINDOW}'] .num:text('{number}')")
    assert number in await display.inner_text("#recent")
    # a recall is announced again, queued behind the first (no cut-off)
    await console.wait_for_selector("#recall:not([disabled])")
    await console.click("#recall")
    await display.wait_for_function("w => window.hallnetSpeech.queue.filter(x => x === w).length === 2", arg=words)
    await shot(display, "display-sound-off")
    await display.click("#enable-sound")
    assert await display.evaluate("window.hallnetSpeech.enabled")
    await shot(display, "display")

    # the phone shows the window
    await phone.wait_for_function("document.body.dataset.status === 'called'")
    assert f"请到 {WINDOW} 号窗口" in await phone.inner_text("#window")
    await shot(phone, "ticket")

    # start, then case intake with a material missing → 一次性告知单
    await console.click("#start")
    await console.wait_for_selector("#intake-form:not(.hidden)")
    assert matter["name"] in await console.inner_text("#guide-body")
    await console.fill("#app-name", "张三")
    await console.fill("#app-id", "11010519491231002X")
    await console.click("#accept")
    link = console.locator("#notice-link")
    await link.wait_for()
    notice_url = await link.get_attribute("href")
    assert notice_url and notice_url.startswith("/matters/api/v1/cases/")
    await shot(console, "console")
    notice = await console.context.new_page()
    await notice.goto(entry.rstrip("/") + notice_url)
    assert "一次性告知" in await notice.content()
    await notice.close()
    await console.wait_for_function("document.querySelector('#cur-status').textContent.startsWith('办理中')")
    await console.click("#complete")
    await console.wait_for_function("document.querySelector('#cur-number').textContent === '—'")
    assert not await console.inner_text("#error")
    # the clerk's own numbers of today, from the queue (本人今日)
    await console.wait_for_function("[...document.querySelectorAll('#numbers tr')]"
                                    ".some(r => r.textContent.replace(/\\s/g, '') === '今日本人办结1')")

    # 评价器: the pad follows its window and shows the rating form for the service just completed
    await pad.wait_for_function("document.body.dataset.screen === 'rate'", timeout=20_000)
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        inv = (await http.get(f"/ratings/api/v1/windows/{WINDOW}/invitation")).json()
    assert inv["subject_id"] == ticket_id
    await pad.click("button[data-level='5']")
    await pad.click("button[data-ind='attitude'][data-ind-level='5']")
    assert await pad.locator("#rating-text").count() == 0  # free text only on the citizen's own phone
    assert await levels_fit(pad), "a level button of the pad overflows"
    await shot(pad, "pad")

    await pad.click("#submit-rating")
    await pad.wait_for_function("document.body.dataset.screen === 'thanks'")
    assert "感谢" in await pad.inner_text("#thanks")
    await shot(pad, "pad-thanks")
    await phone.wait_for_function("document.body.dataset.status === 'done'")

    # green channel (绿色通道): the duty manager confirms at the kiosk
    await kiosk.click("#done")
    await kiosk.click(f"button[data-category='{matter['category']}']")
    await kiosk.click(f"button[data-matter='{matter['id']}']")
    await kiosk.click("#green")
    await kiosk.fill("#staff-id", manager["staff_id"])
    await kiosk.fill("#staff-pw", "wrong-password")
    await kiosk.click("#staff-ok")
    await kiosk.wait_for_function("document.querySelector('#staff-error').textContent.length > 0")
    await kiosk.fill("#staff-pw", manager["password"])
    await kiosk.click("#staff-ok")
    await kiosk.wait_for_selector("#step-ticket:not(.hidden)")
    assert "绿色通道" in await kiosk.inner_text("#ticket-priority")
    green_number = (await kiosk.inner_text("#ticket-number")).strip()
    assert green_number != number

    # served at the same window, then rated badly on the citizen's phone (the SMS link /r/<invitation>)
    await console.click("#call-next")
    await console.wait_for_function(f"document.querySelector('#cur-number').textContent === '{green_number}'")
    await console.click("#start")
    await console.wait_for_function("document.querySelector('#cur-status').textContent.startsWith('办理中')")
    await console.click("#complete")
    await console.wait_for_function("document.querySelector('#cur-number').textContent === '—'")
    await pad.wait_for_function("document.body.dataset.screen === 'rate'", timeout=20_000)
    async with httpx.AsyncClient(base_url=entry, timeout=10) as http:
        inv2 = (await http.get(f"/ratings/api/v1/windows/{WINDOW}/invitation")).json()
    assert inv2["id"] != inv["id"]
    rate = await new_page(browser, 390, 844, mobile=True)
    await rate.goto(f"{entry}r/{inv2['id']}")
    await rate.wait_for_function("document.body.dataset.screen === 'rate'")
    assert await rate.locator("button[data-level]").count() == len(inv2["levels"])
    await rate.wait_for_function("m => document.querySelector('#rate-subject').textContent.includes(m)",
                                 arg=matter["name"])  # what is rated: 窗口服务, the window, the matter's name
    assert f"窗口服务（一次一评） · {WINDOW} 号窗口" in await rate.inner_text("#rate-subject")
    assert await rate.locator("#rating-text:not(.bad)").count() == 1 and await levels_fit(rate)
    await rate.fill("#rating-text", "等了很久，叫号后窗口还没人")
    await rate.click("button[data-level='1']")
    await rate.click("button[data-reason='long_wait']")
    assert await rate.input_value("#rating-text") == "等了很久，叫号后窗口还没人"  # kept across the redraw
    assert await rate.locator(".rate-text.bad #rating-text").count() == 1 and await levels_fit(rate)
    await shot(rate, "rate-phone")
    await rate.click("#submit-rating")
    await rate.wait_for_function("document.body.dataset.screen === 'thanks'")
    await rate.reload()
    await rate.wait_for_function("document.body.dataset.screen === 'thanks'")
    assert "已评价" in await rate.inner_text("#thanks")

    # 值班长: today's figures, the bad rating to follow up, the SMS log with the citizen's masked number
    mgr = await new_page(browser, 1280, 1400)
    await mgr.goto(entry + "manager")
    await mgr.fill("#staff-id", manager["staff_id"])
    await mgr.fill("#staff-pw", manager["password"])
    await mgr.click("#signin-btn")
    await mgr.wait_for_selector("#desk:not(.hidden)")
    await mgr.wait_for_selector("#matters button[data-matter]")
    await mgr.wait_for_function("s => document.querySelector('#staff').textContent.includes(s)",
                                arg=clerk["staff_id"])
    await mgr.wait_for_selector("#sms td:text('138****8000')")
    await mgr.wait_for_selector("#complaints button[data-act='verify']")
    assert "等了很久，叫号后窗口还没人" in await mgr.inner_text("#complaints")  # the phone's words, for the manager
    figures = await mgr.inner_text("#figures")
    assert re.search(r"办结\s*2", figures), figures
    await shot(mgr, "manager")
    # 强制签退: the duty manager ends the clerk's window session; the clerk's console shows it by itself
    mgr.once("dialog", lambda dialog: dialog.accept())
    await mgr.click(f"button[data-end-window='{WINDOW}']")
    await mgr.wait_for_selector(f"button[data-end-window='{WINDOW}']", state="detached")
    await console.wait_for_selector("#signin:not(.hidden)")
    assert "值班长已将本窗口签退" in await console.inner_text("#error")

    # entry page, in English (the switch is remembered)
    home = await new_page(browser, 1280, 900)
    await home.goto(entry)
    await home.wait_for_selector(f"a[href='/console?window={WINDOW}']")
    await home.click("#lang")
    assert "Ticket kiosk" in await home.inner_text("#screens")
    await home.reload()
    assert "Ticket kiosk" in await home.inner_text("#screens")
    await shot(home, "entry-en")
    await home.click("#lang")
    await shot(home, "entry")

    # 监管大屏: the central wall (through a gateway in front of central) shows the site's served tickets and the
    # bad rating's alert, which a supervisor acknowledges; drill-down charts
    assert doc["central"]["entry"].endswith("/wall"), doc["central"]  # what `hallnet up` prints for central
    wall = await new_page(browser, 1920, 1080)
    await wall.goto(doc["central"]["entry"])
    await wall.wait_for_selector("body[data-ready='1']")
    await wall.wait_for_function(
        "id => { const el = document.querySelector(`[data-site='${id}'] .served`); "
        "return el && /\\s2$/.test(el.textContent); }", arg=site["id"], timeout=30_000)
    ack = wall.locator(f".alert:has-text('{site['name']}') button[data-ack]").first
    await ack.wait_for(timeout=30_000)
    await ack.click()
    supervisor = doc["central"]["supervisors"][0]
    await wall.fill("#user", supervisor["user"])
    await wall.fill("#pw", supervisor["password"])
    await wall.click("#signin-btn")
    await wall.wait_for_selector("#signin.hidden", state="attached")
    alert_id = await ack.get_attribute("data-ack")
    await wall.click(f"button[data-ack='{alert_id}']")
    await wall.wait_for_selector(f".alert.acknowledged[data-alert='{alert_id}']")
    await wall.click(f"[data-site='{site['id']}']")
    await wall.wait_for_selector("#detail:not(.hidden) #chart-day svg circle")  # today's satisfaction
    assert await wall.locator("#chart-day svg rect").count() == 24  # one bar per hour
    assert await wall.locator("#chart-month svg rect").count() >= 28  # one bar per day of the month
    report = await wall.get_attribute("#report", "href")
    assert report and "/central/api/v1/reports/monthly?month=" in report and report.endswith("format=csv")
    await shot(wall, "wall")
    print(f"browser flow done in {time.monotonic() - t0:.1f}s")
