"""Pure rules of the notify service (短信)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify import domain as d
from services.notify.crypto import DataBox, derive_development_key

TZ = ZoneInfo("Asia/Shanghai")
QUIET = d.QuietHours(time(21, 0), time(8, 0))
LIMITS = d.Limits(per_template_24h=50, min_interval_s=30)


@pytest.mark.parametrize("text", ["13812341234", "138 1234 1234", "+86 138-1234-1234", "008613812341234",
                                  "8613812341234", "19912345678"])
def test_normalize_phone_accepts_mainland_mobiles(text: str) -> None:
    """Mainland mobile numbers are accepted with spaces, dashes and a +86 prefix."""
    assert d.normalize_phone(text) in ("13812341234", "19912345678")


@pytest.mark.parametrize("text", ["", "12812341234", "1381234123", "138123412345", "0731-88881234", "abc"])
def test_normalize_phone_refuses_others(text: str) -> None:
    """Anything that is not 1[3-9] and 9 more digits is refused with a clear message."""
    with pytest.raises(d.InvalidPhone, match="手机号码无效"):
        d.normalize_phone(text)


def test_mask_phone() -> None:
    """A phone is shown as 138****1234."""
    assert d.mask_phone("13812341234") == "138****1234"


@pytest.mark.parametrize(("sig", "ok"), [("株洲人社", True), ("【株洲人社】", True), ("人", False),
                                         ("株洲市人社局便民服务大厅", True), ("株洲市人社局便民服务大厅一", False)])
def test_signature_is_two_to_twelve_characters(sig: str, ok: bool) -> None:
    """The 【signature】 has 2–12 characters (brackets not counted)."""
    if ok:
        assert 2 <= len(d.check_signature(sig)) <= 12
    else:
        with pytest.raises(d.InvalidSignature):
            d.check_signature(sig)


def test_parts_count_chinese_text_with_the_signature() -> None:
    """≤ 70 characters including 【signature】 is one part; 71 is two (67 each); 135 is three."""
    sig = "株洲人社"  # 【株洲人社】 = 6 characters
    assert d.count_parts(d.signed(sig, "办" * 64)) == 1
    assert d.count_parts(d.signed(sig, "办" * 65)) == 2
    assert d.count_parts(d.signed(sig, "办" * 128)) == 2
    assert d.count_parts(d.signed(sig, "办" * 129)) == 3
    called = d.signed(sig, d.render("ticket_called", {"number": "A015", "window_no": 3}))
    assert called == "【株洲人社】请A015号到3号窗口办理。"
    assert d.count_parts(called) == 1


def test_templates_check_their_variables() -> None:
    """A template needs exactly its variables, none empty."""
    assert d.render("ticket_called", {"number": "A015", "window_no": 3}) == "请A015号到3号窗口办理。"
    with pytest.raises(d.TemplateError, match="missing"):
        d.render("ticket_called", {"number": "A015"})
    with pytest.raises(d.TemplateError, match="unknown"):
        d.render("ticket_called", {"number": "A015", "window_no": 3, "phone": "x"})
    with pytest.raises(d.TemplateError, match="empty"):
        d.render("ticket_called", {"number": "", "window_no": 3})
    with pytest.raises(d.TemplateError, match="unknown template"):
        d.render("nope", {})


def test_pickup_and_issued_texts() -> None:
    """Pickup names the day (请您于×月×日前来领取); the ticket message names number, people ahead and minutes."""
    code, v = d.pickup_message(date(2026, 3, 5))
    assert "请您于3月5日前来领取" in d.render(code, v)
    code, v = d.pickup_message(None)
    assert "工作日" in d.render(code, v)
    text = d.render("ticket_issued", d.ticket_issued_vars("A015", 4, 610))
    assert text == "您已取号A015，前面还有4人，预计等候约11分钟，请留意叫号。"


def test_quiet_hours_over_midnight() -> None:
    """Quiet 21:00–08:00: a reminder at 22:30 waits until 08:00 the next day; 08:00 itself is allowed."""
    late = datetime(2026, 11, 20, 22, 30, tzinfo=TZ)
    assert QUIET.next_allowed(late) == datetime(2026, 11, 21, 8, 0, tzinfo=TZ)
    early = datetime(2026, 11, 21, 6, 0, tzinfo=TZ)
    assert QUIET.next_allowed(early) == datetime(2026, 11, 21, 8, 0, tzinfo=TZ)
    day = datetime(2026, 11, 21, 8, 0, tzinfo=TZ)
    assert QUIET.next_allowed(day) == day
    assert not d.QuietHours(time(8), time(8)).contains(time(3))


def test_decide_quiet_hours_never_hold_a_call() -> None:
    """Quiet hours defer reminders (pickup) but never the call to a window."""
    late = datetime(2026, 11, 20, 22, 30, tzinfo=TZ)
    pickup = d.decide(d.TEMPLATES["ready_for_pickup"], late, sent_same_template_24h=0, last_sent_at=None,
                      limits=LIMITS, quiet=QUIET)
    assert pickup.action == "defer" and pickup.reason == "quiet_hours"
    called = d.decide(d.TEMPLATES["ticket_called"], late, sent_same_template_24h=0, last_sent_at=None,
                      limits=LIMITS, quiet=QUIET)
    assert called.action == "send"


def test_decide_rate_limits() -> None:
    """The 24 h cap per template refuses; the minimum interval per phone defers to last send + interval."""
    at = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    t = d.TEMPLATES["ticket_called"]
    assert d.decide(t, at, sent_same_template_24h=50, last_sent_at=None, limits=LIMITS, quiet=QUIET).action == "refuse"
    wait = d.decide(t, at, sent_same_template_24h=1, last_sent_at=at - timedelta(seconds=10), limits=LIMITS,
                    quiet=QUIET)
    assert wait.action == "defer" and wait.until == at + timedelta(seconds=20) and wait.reason == "min_interval"
    ok = d.decide(t, at, sent_same_template_24h=1, last_sent_at=at - timedelta(seconds=30), limits=LIMITS, quiet=QUIET)
    assert ok.action == "send"


def test_retry_delay_is_exponential_and_capped() -> None:
    """Backoff doubles per attempt up to the cap."""
    assert [d.retry_delay_s(n, 2.0, 10.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]


def test_databox_lookup_and_sealing() -> None:
    """Sealed phones open only in their context; the lookup hash is stable and not the phone."""
    box = DataBox(derive_development_key("secret"))
    blob = box.seal("13812341234", "contact:x:phone")
    assert b"13812341234" not in blob and box.open(blob, "contact:x:phone") == "13812341234"
    assert box.lookup("13812341234") == box.lookup("13812341234") != box.lookup("13812341235")
