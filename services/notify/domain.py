"""Pure rules of the notify service (短信): phone numbers, templates with the site's 【signature】, length and
parts, rate limits and quiet hours. No I/O here."""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from shared import errors

if TYPE_CHECKING:
    from shared.workdays import WorkCalendar

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
SINGLE_PART_CHARS = 70  # up to 70 characters (signature included): one part
MULTI_PART_CHARS = 67  # longer messages are billed in 67-character parts


class NotifyError(errors.DomainError):
    """A rule broken by the input: each is ``shared.errors.Unprocessable`` (422), which the HTTP layer maps; its
    JSON ``error`` code is the class name."""


class InvalidPhone(errors.Unprocessable, NotifyError):
    pass


class InvalidSignature(errors.Unprocessable, NotifyError):
    pass


class TemplateError(errors.Unprocessable, NotifyError):
    pass


# --- phone numbers -------------------------------------------------------------------------------------
def normalize_phone(text: str) -> str:
    """A mainland mobile number (1[3-9] and 9 digits), spaces/dashes and a +86/0086 prefix removed."""
    t = re.sub(r"[\s\-()]", "", text or "")
    for prefix in ("+86", "0086"):
        if t.startswith(prefix):
            t = t[len(prefix):]
            break
    if len(t) == 13 and t.startswith("86"):
        t = t[2:]
    if not PHONE_RE.match(t):
        raise InvalidPhone("手机号码无效 / not a mainland mobile number (11 digits starting 13–19)")
    return t


def mask_phone(phone: str) -> str:
    """138****1234."""
    return phone[:3] + "****" + phone[-4:]


# --- signature, length, parts ---------------------------------------------------------------------------
def check_signature(signature: str) -> str:
    """The site's SMS signature (签名), 2–12 characters, without the brackets."""
    s = signature.strip().strip("【】").strip()
    if not 2 <= len(s) <= 12 or any(c in s for c in "【】"):
        raise InvalidSignature(f"短信签名须为2–12个字 / the SMS signature must be 2–12 characters, got {len(s)}")
    return s


def signed(signature: str, text: str) -> str:
    return f"【{signature}】{text}"


def count_parts(full_text: str) -> int:
    """Parts billed for a message (signature included): ≤ 70 characters is 1, else ceil(n / 67)."""
    n = len(full_text)
    if n <= SINGLE_PART_CHARS:
        return 1
    return math.ceil(n / MULTI_PART_CHARS)


# --- templates ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Template:
    code: str
    body: str  # str.format fields
    reminder: bool  # reminders wait for the end of quiet hours; an in-hall call never does

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(f for _, f, _, _ in string.Formatter().parse(self.body) if f)


TEMPLATES: dict[str, Template] = {t.code: t for t in (
    Template("ticket_issued", "您已取号{number}，前面还有{ahead}人，预计等候约{wait_min}分钟，请留意叫号。",
             reminder=False),
    Template("ticket_called", "请{number}号到{window_no}号窗口办理。", reminder=False),
    Template("materials_missing", "您申请的事项尚缺{count}项材料，请按一次性告知单补齐后再来办理。", reminder=True),
    Template("ready_for_pickup", "您办理的事项已办结，请您于{month}月{day}日前到{place}领取{item}。", reminder=True),
    Template("ready_for_pickup_any_day", "您办理的事项已办结，请您在工作日到{place}领取{item}。", reminder=True),
    # 快到您了: in the hall, like a call, so it never waits for quiet hours
    Template("turn_approaching", "快到您了：{number}号前面还有{ahead}人，请到等候区留意叫号。", reminder=False),
    Template("pickup_reminder", "您办理的事项已办结{days}个工作日，证照尚未领取，请您在工作日来领取。", reminder=True),
    Template("rating_invite", "请您对本次服务评价：{url}", reminder=True),
)}


def render(code: str, variables: dict[str, object]) -> str:
    """The template's text with every variable given (no more, no fewer, none empty)."""
    t = TEMPLATES.get(code)
    if t is None:
        raise TemplateError(f"未备案的短信模板 / unknown template {code}")
    given = set(variables)
    if given != t.variables:
        raise TemplateError(f"template {code}: missing {sorted(t.variables - given)}, "
                            f"unknown {sorted(given - t.variables)}")
    empty = sorted(k for k, v in variables.items() if v is None or str(v) == "")
    if empty:
        raise TemplateError(f"template {code}: empty {empty}")
    return t.body.format(**variables)


def ticket_issued_vars(number: str, ahead: int, estimated_wait_s: int) -> dict[str, object]:
    return {"number": number, "ahead": max(0, ahead), "wait_min": max(1, math.ceil(estimated_wait_s / 60))}


DEFAULT_PICKUP_ITEM = "证照"


def pickup_message(pickup_by: date | None, *, item: str | None, place: str) -> tuple[str, dict[str, object]]:
    """待领取: collect ``item`` (证照 when the event does not say) at ``place`` by ``pickup_by`` (the day the hall
    holds it until), or on any working day."""
    what: dict[str, object] = {"item": item or DEFAULT_PICKUP_ITEM, "place": place}
    if pickup_by is None:
        return "ready_for_pickup_any_day", what
    return "ready_for_pickup", {"month": pickup_by.month, "day": pickup_by.day, **what}


def template_params(code: str, variables: dict[str, object]) -> tuple[dict[str, str], list[str]]:
    """The variables as a provider wants them: by name (Aliyun ``TemplateParam``, ``${name}`` in the registered
    template) and in the order they appear in our text (Tencent ``TemplateParamSet``, ``{1}``, ``{2}`` …)."""
    t = TEMPLATES[code]
    order: list[str] = []
    for _, f, _, _ in string.Formatter().parse(t.body):
        if f and f not in order:
            order.append(f)
    named = {k: str(variables[k]) for k in order}
    return named, [named[k] for k in order]


def pickup_reminder_due(ready_at: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """When to remind of a case not collected: the ``days``-th working day after the day it became ready
    (次日起算, ``calendar.add_working_days``), at the same time of day (quiet hours then apply to the message like
    to any reminder)."""
    day = calendar.add_working_days(ready_at.date(), days)
    return ready_at.replace(year=day.year, month=day.month, day=day.day)


def approach_decision(status: str, ahead: int, issued_ahead: int | None, threshold: int, *,
                      issued_overdue: bool = True) -> str:
    """What a look at a waiting ticket means for the turn-approaching SMS: ``send`` (its people ahead dropped
    to ``threshold`` or fewer), ``wait`` (still more ahead, or its issued event not seen yet while it may still
    come: ``issued_overdue`` False), ``skip`` (no SMS ever: the ticket is no longer waiting, or it was issued
    with ``threshold`` or fewer ahead, which the issued SMS already said)."""
    if status not in ("waiting", "transferred"):
        return "skip"
    if issued_ahead is None and not issued_overdue:
        return "wait"
    if issued_ahead is not None and issued_ahead <= threshold:
        return "skip"
    return "send" if ahead <= threshold else "wait"


# --- quiet hours and rate limits ------------------------------------------------------------------------
@dataclass(frozen=True)
class QuietHours:
    start: time  # e.g. 21:00
    end: time  # e.g. 08:00 (may be before start: the night)

    def contains(self, t: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """``at`` itself, or the end of the quiet period ``at`` falls in (same time zone as ``at``)."""
        local = at.timetz().replace(tzinfo=None)
        if not self.contains(local):
            return at
        end = at.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > at else end + timedelta(days=1)


def parse_hhmm(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day (HH:MM)") from None


@dataclass(frozen=True)
class Limits:
    per_template_24h: int = 50  # same template to one phone (Aliyun's default cap)
    min_interval_s: float = 30.0  # between two messages to one phone (Tencent's default)


@dataclass(frozen=True)
class Decision:
    action: str  # "send" | "defer" | "refuse"
    until: datetime | None = None
    reason: str | None = None


def decide(template: Template, at: datetime, *, sent_same_template_24h: int, last_sent_at: datetime | None,
           limits: Limits, quiet: QuietHours | None) -> Decision:
    """Send now, wait (quiet hours for reminders, the minimum interval) or refuse (24 h cap reached)."""
    if sent_same_template_24h >= limits.per_template_24h:
        return Decision("refuse", reason="rate_limited")
    if template.reminder and quiet is not None:
        allowed = quiet.next_allowed(at)
        if allowed > at:
            return Decision("defer", until=allowed, reason="quiet_hours")
    if last_sent_at is not None and limits.min_interval_s > 0:
        allowed_at = last_sent_at + timedelta(seconds=limits.min_interval_s)
        if allowed_at > at:
            return Decision("defer", until=allowed_at, reason="min_interval")
    return Decision("send")


def retry_delay_s(attempt: int, base_s: float, cap_s: float = 600.0) -> float:
    """Exponential backoff after the ``attempt``-th failed try (1, 2, …)."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))
