"""Pure rules of the notify service (短信)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify import domain as d
from services.notify.crypto import DataBox, derive_development_key
from shared.workdays import WorkCalendar

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
    """Pickup names the day, the place and what to collect (请您于×月×日前到…领取…); the ticket message names
    number, people ahead and minutes."""
    code, v = d.pickup_message(date(2026, 3, 5), item="社会保障卡", place="株洲市人社局一楼3号窗口")
    assert d.render(code, v) == "您办理的事项已办结，请您于3月5日前到株洲市人社局一楼3号窗口领取社会保障卡。"
    code, v = d.pickup_message(None, item=None, place="测试大厅")
    assert d.render(code, v) == "您办理的事项已办结，请您在工作日到测试大厅领取证照。"
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


def test_template_params_by_name_and_in_text_order() -> None:
    """Aliyun gets the variables by name, Tencent in the order they appear in the text ({1}, {2} …), as strings."""
    named, ordered = d.template_params("ticket_issued", {"wait_min": 11, "number": "A015", "ahead": 4})
    assert named == {"number": "A015", "ahead": "4", "wait_min": "11"}
    assert ordered == ["A015", "4", "11"]


def test_pickup_reminder_counts_working_days_after_the_ready_day() -> None:
    """Ready on Friday 10:00: the 3rd working day after is Wednesday 10:00 (the weekend does not count)."""
    ready = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    due = d.pickup_reminder_due(ready, 3, WorkCalendar(source=lambda day: day.weekday() < 5))
    assert due == datetime(2026, 11, 25, 10, 0, tzinfo=TZ)


def test_pickup_reminder_skips_a_holiday() -> None:
    """A day the calendar says is a holiday is not counted (working days via the site's calendar)."""
    ready = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    holiday = date(2026, 11, 23)
    due = d.pickup_reminder_due(ready, 1, WorkCalendar(source=lambda day: day.weekday() < 5 and day != holiday))
    assert due.date() == date(2026, 11, 24)


@pytest.mark.parametrize(("status", "ahead", "issued_ahead", "want"), [
    ("waiting", 4, 6, "wait"), ("waiting", 3, 6, "send"), ("transferred", 1, 6, "send"),
    ("waiting", 0, 2, "skip"), ("called", 0, 6, "skip"), ("unknown", 0, None, "skip"), ("waiting", 2, None, "send"),
])
def test_approach_decision(status: str, ahead: int, issued_ahead: int | None, want: str) -> None:
    """快到您了 when the people ahead drop to N (3); never for a ticket issued with N or fewer ahead, or not waiting."""
    assert d.approach_decision(status, ahead, issued_ahead, 3) == want


def test_approach_waits_for_the_issued_event() -> None:
    """A ticket whose issued event is not seen yet waits (it may have been issued with 2 ahead) until overdue."""
    assert d.approach_decision("waiting", 2, None, 3, issued_overdue=False) == "wait"
    assert d.approach_decision("waiting", 2, None, 3, issued_overdue=True) == "send"


@pytest.mark.parametrize(("code", "status", "transient"), [
    ("isv.BUSINESS_LIMIT_CONTROL", None, True), ("isp.SYSTEM_ERROR", None, True), ("Throttling.User", None, True),
    ("SomethingNew", 503, True), ("isv.DAY_LIMIT_CONTROL", None, False), ("isv.MOBILE_NUMBER_ILLEGAL", None, False),
    ("isv.AMOUNT_NOT_ENOUGH", None, False), ("InvalidAccessKeyId.NotFound", 404, False),
])
def test_aliyun_error_codes(code: str, status: int | None, transient: bool) -> None:
    """Aliyun flow control and server errors are retried; day limits, bad numbers, balance and keys are final."""
    from services.notify.providers import aliyun_transient

    assert aliyun_transient(code, status) is transient


@pytest.mark.parametrize(("code", "transient"), [
    ("LimitExceeded.PhoneNumberThirtySecondLimit", True), ("InternalError.Timeout", True),
    ("RequestLimitExceeded", True), ("ClientNetworkError", True), ("LimitExceeded.PhoneNumberDailyLimit", False),
    ("AuthFailure.SignatureFailure", False), ("InvalidParameterValue.IncorrectPhoneNumber", False),
    ("FailedOperation.InsufficientBalanceInSmsPackage", False),
])
def test_tencent_error_codes(code: str, transient: bool) -> None:
    """Tencent 30 s/1 h limits, internal and network errors are retried; daily limits, auth and bad input are final."""
    from services.notify.providers import tencent_transient

    assert tencent_transient(code) is transient


def test_new_templates_render_and_count() -> None:
    """Turn approaching and the pickup reminder fit one part with a 4-character signature; the rating link (a
    36-character invitation id in the URL) takes two."""
    texts = [d.signed("测试大厅", d.render("turn_approaching", {"number": "A006", "ahead": 3})),
             d.signed("测试大厅", d.render("pickup_reminder", {"days": 3})),
             d.signed("测试大厅", d.render("rating_invite", {"url": "http://127.0.0.1:8105/r/" + "0" * 36}))]
    assert texts[0] == "【测试大厅】快到您了：A006号前面还有3人，请到等候区留意叫号。"
    assert [d.count_parts(t) for t in texts] == [1, 1, 2] and len(texts[2]) == 76


@pytest.mark.parametrize("error", [d.InvalidPhone, d.InvalidSignature, d.TemplateError])
def test_errors_are_unprocessable_with_their_name_as_code(error: type[d.NotifyError]) -> None:
    """Each domain error is shared.errors.Unprocessable: shared/http.py answers 422 with the class name as code."""
    exc = error("message")
    assert (exc.status, exc.code, exc.message) == (422, error.__name__, "message")
