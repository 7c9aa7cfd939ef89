"""Which alerts central raises and clears (告警), as pure rules: the condition alerts a site's current state calls
for (``evaluate``), the alerts events open or resolve (``EVENT_ALERTS``, a map from the event's class to its rule),
the alert lifecycle (open → acknowledged → resolved) and a site's status colour. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from services.central.domain import SiteConfig, Thresholds, is_bad_rating
from shared import errors
from shared.events import matters as mev
from shared.events import ratings as rev
from shared.events.base import EventData

# --- the kinds --------------------------------------------------------------------------------------------------
SEVERITY = {"offline": "red", "case_red": "red", "complaint_overdue": "red", "long_wait": "yellow",
            "queue_long": "yellow", "empty_window": "yellow", "late_start": "yellow", "early_leave": "yellow",
            "bad_rating": "yellow", "case_yellow": "yellow", "sms_failure": "yellow", "service_degraded": "yellow",
            "idle_while_waiting": "yellow"}
# kinds the evaluator opens and resolves from the current state (the others come with events: EVENT_ALERTS)
CONDITION_KINDS = ("offline", "long_wait", "queue_long", "empty_window", "late_start", "early_leave", "sms_failure",
                   "service_degraded", "idle_while_waiting")


@dataclass(frozen=True)
class Candidate:
    """An alert a site's state or an event calls for."""

    site: str
    kind: str
    subject: str
    message: str
    value: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.site, self.kind, self.subject)

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.kind, "yellow")


# --- condition alerts: what a site's state calls for now -------------------------------------------------------
@dataclass
class WindowState:
    window_no: int
    state: str  # closed / open / paused (a snapshot may say serving: staffed)
    since: datetime
    staffed_on: date | None = None  # the last site day the window was signed in
    waiting: int | None = None  # people waiting for its queues (latest snapshot)
    busy: bool = False  # a ticket called or served at it
    active_at: datetime | None = None  # its latest call or finished service

    @property
    def staffed(self) -> bool:
        return self.state != "closed"


@dataclass
class SiteState:
    """What the evaluator knows of one site now."""

    site: str
    config: SiteConfig
    last_heartbeat_at: datetime | None
    queues: list[dict[str, Any]] = field(default_factory=list)  # {queue_id, waiting, longest_wait_s, windows_open}
    windows: list[WindowState] = field(default_factory=list)
    sms_sent: int = 0  # in the last sms_window_min
    sms_failed: int = 0
    open_alerts: list[dict[str, Any]] = field(default_factory=list)  # {kind, subject, detail} unresolved
    services: dict[str, str] = field(default_factory=dict)  # service -> its latest heartbeat status (ok/degraded)


def session_at(cfg: SiteConfig, at: datetime, is_workday: Callable[[date], bool]) -> tuple[datetime, datetime] | None:
    """The office-hours session (start, end) containing ``at`` on a working day, else None."""
    day = at.date()
    if not is_workday(day):
        return None
    for a, b in cfg.sessions():
        start, end = datetime.combine(day, a, at.tzinfo), datetime.combine(day, b, at.tzinfo)
        if start <= at < end:
            return start, end
    return None


def online(last_heartbeat_at: datetime | None, now: datetime, t: Thresholds) -> bool:
    return last_heartbeat_at is not None and (now - last_heartbeat_at).total_seconds() <= t.offline_after_s


def _mins(seconds: float) -> int:
    return int(seconds // 60)


def evaluate(s: SiteState, t: Thresholds, now: datetime, is_workday: Callable[[date], bool]
             ) -> tuple[list[Candidate], set[tuple[str, str, str]]]:
    """The condition alerts ``s`` calls for now, and the keys of unresolved ones whose condition has cleared."""
    out: list[Candidate] = []
    site = s.site
    is_online = online(s.last_heartbeat_at, now, t)
    if not is_online:
        last = s.last_heartbeat_at.isoformat() if s.last_heartbeat_at else None
        out.append(Candidate(site, "offline", "site", "大厅离线 / site offline (no heartbeat)",
                             detail={"last_heartbeat_at": last}))
    # a site that is not heard from has stale queues and windows: judge them (open or clear) only when online
    judged = set(CONDITION_KINDS) if is_online else {"offline", "sms_failure"}
    for q in s.queues if is_online else []:
        if q["longest_wait_s"] > t.long_wait_s:
            out.append(Candidate(site, "long_wait", f"queue:{q['queue_id']}",
                                 f"等待过久：最长 {_mins(q['longest_wait_s'])} 分钟 / long wait",
                                 value=q["longest_wait_s"], detail={"queue_id": str(q["queue_id"])}))
        waiting, open_ = q["waiting"], q["windows_open"]
        if (waiting > 0 and open_ == 0) or waiting / max(open_, 1) > t.queue_per_window:
            out.append(Candidate(site, "queue_long", f"queue:{q['queue_id']}",
                                 f"排队过长：{waiting} 人等候，{open_} 个窗口开放 / queue too long for open windows",
                                 value=waiting, detail={"queue_id": str(q["queue_id"]), "windows_open": open_}))
    session = session_at(s.config, now, is_workday)
    today = now.date()
    if session is not None and is_online:
        start, end = session
        for w in s.windows:
            if w.staffed and w.state != "paused":
                continue
            if w.state == "closed" and w.staffed_on != today:
                continue  # never signed in today: that is a late start, not 空窗
            gap = (now - max(w.since, start)).total_seconds()
            if gap > t.empty_window_min * 60:
                out.append(Candidate(site, "empty_window", f"window:{w.window_no}",
                                     f"{w.window_no}号窗口空窗 {_mins(gap)} 分钟 / window unstaffed",
                                     value=gap, detail={"window_no": w.window_no, "state": w.state}))
        # 迟到: nobody staffed and nobody signed out since the session began (else it is 空窗 or 早退)
        came = any(w.staffed or (w.staffed_on == today and w.since >= start) for w in s.windows)
        if now >= start + timedelta(minutes=t.start_grace_min) and not came:
            out.append(Candidate(site, "late_start", f"session:{start.isoformat()}",
                                 f"{start:%H:%M} 开班后无窗口签到 / no window signed in after opening",
                                 detail={"session_start": start.isoformat()}))
        for w in s.windows:
            if w.state != "closed" or w.staffed_on != today:
                continue
            if end - timedelta(minutes=t.early_leave_lookback_min) <= w.since < end - timedelta(
                    minutes=t.leave_grace_min) and w.since >= start:
                out.append(Candidate(site, "early_leave", f"window:{w.window_no}:{end.isoformat()}",
                                     f"{w.window_no}号窗口 {w.since:%H:%M} 提前签退 / signed out before closing",
                                     detail={"window_no": w.window_no, "session_end": end.isoformat(),
                                             "signed_out_at": w.since.isoformat()}))
    for w in s.windows if is_online else []:
        # staffed and open, nobody at the window, no call for idle_while_waiting_min while its queues have people
        if w.state == "open" and not w.busy and (w.waiting or 0) > 0:
            idle = (now - max(w.since, w.active_at or w.since)).total_seconds()
            if idle > t.idle_while_waiting_min * 60:
                out.append(Candidate(site, "idle_while_waiting", f"window:{w.window_no}",
                                     f"{w.window_no}号窗口 {_mins(idle)} 分钟未叫号，{w.waiting} 人等候 / window idle "
                                     "while people wait", value=idle,
                                     detail={"window_no": w.window_no, "waiting": w.waiting}))
    for name, status in sorted(s.services.items()) if is_online else []:
        if status != "ok":  # its database is away, or a background loop keeps failing (its health says which)
            out.append(Candidate(site, "service_degraded", f"service:{name}",
                                 f"{name} 服务异常（{status}） / service {name} is {status}",
                                 detail={"service": name, "status": status}))
    sms_total = s.sms_sent + s.sms_failed
    if sms_total >= t.sms_min_messages and s.sms_failed / sms_total > t.sms_failure_rate:
        rate = s.sms_failed / sms_total
        out.append(Candidate(site, "sms_failure", "sms", f"短信失败率 {rate:.0%} / SMS failure rate",
                             value=round(rate, 4), detail={"sent": s.sms_sent, "failed": s.sms_failed}))
    want = {c.key for c in out}
    staffed = {w.window_no for w in s.windows if w.staffed}
    cleared: set[tuple[str, str, str]] = set()
    for a in s.open_alerts:
        key = (site, a["kind"], a["subject"])
        if a["kind"] not in judged or key in want:
            continue
        if a["kind"] == "early_leave":
            # an early leave stays on record; it clears only if the window is signed in again before closing
            detail = a.get("detail") or {}
            end_at = detail.get("session_end")
            if detail.get("window_no") in staffed and end_at and now < datetime.fromisoformat(end_at):
                cleared.add(key)
            continue
        cleared.add(key)
    return out, cleared


def status_colour(online_now: bool, unresolved: Iterable[dict[str, Any]]) -> tuple[str, list[str]]:
    """green / yellow / red and the reasons (the messages of the site's unresolved alerts, worst first)."""
    alerts = sorted(unresolved, key=lambda a: (a["severity"] != "red", a["kind"]))
    reasons = [a["message"] for a in alerts]
    if not online_now and not any(a["kind"] == "offline" for a in alerts):
        reasons.insert(0, "大厅离线 / site offline (no heartbeat)")
    if not online_now or any(a["severity"] == "red" for a in alerts):
        return "red", reasons
    if alerts:
        return "yellow", reasons
    return "green", reasons


# --- event alerts: what one event opens or resolves (in the ingest's transaction) -------------------------------
@dataclass(frozen=True)
class Resolution:
    """An unresolved alert an event clears (resolved by ``auto``, with ``note``)."""

    site: str
    kind: str
    subject: str
    note: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.site, self.kind, self.subject)


@dataclass(frozen=True)
class AlertChange:
    """The alerts one event opens and those it resolves (opened first, so a rule may open one and clear another)."""

    opens: tuple[Candidate, ...] = ()
    resolves: tuple[Resolution, ...] = ()


NO_CHANGE = AlertChange()


def bad_rating(site: str, data: rev.RatingSubmitted, bad_level: int) -> AlertChange:
    """差评: a submitted rating at or below ``bad_level`` opens an alert on the rating."""
    if not is_bad_rating(data.level, bad_level):
        return NO_CHANGE
    return AlertChange(opens=(Candidate(
        site, "bad_rating", f"rating:{data.rating_id}",
        f"差评：{data.level} 级（{data.window_no or '-'}号窗口）/ bad rating", value=data.level,
        detail={"rating_id": str(data.rating_id), "window_no": data.window_no, "staff_id": data.staff_id,
                "matter_id": data.matter_id}),))


def complaint_overdue(site: str, data: rev.ComplaintOverdue, bad_level: int) -> AlertChange:
    """A complaint (差评整改) not closed by its due time opens a red alert on the complaint."""
    return AlertChange(opens=(Candidate(
        site, "complaint_overdue", f"complaint:{data.complaint_id}", "差评整改超期 / complaint overdue",
        detail={"complaint_id": str(data.complaint_id), "rating_id": str(data.rating_id),
                "due_at": data.due_at.isoformat() if data.due_at else None}),))


def complaint_closed(site: str, data: rev.ComplaintClosed, bad_level: int) -> AlertChange:
    """A closed complaint resolves its overdue alert and the bad rating it was about."""
    return AlertChange(resolves=(
        Resolution(site, "complaint_overdue", f"complaint:{data.complaint_id}", "complaint closed"),
        Resolution(site, "bad_rating", f"rating:{data.rating_id}", "complaint closed")))


CASE_LABELS = {"yellow": "办件临近时限（黄牌）/ case nearing its limit", "red": "办件超期（红牌）/ case overdue"}


def case_warned(site: str, data: mev.CaseWarned, bad_level: int) -> AlertChange:
    """A yellow or red card (黄牌/红牌) opens ``case_yellow`` / ``case_red``; red resolves the yellow."""
    subject = f"case:{data.case_id}"
    opened = Candidate(site, f"case_{data.level}", subject, CASE_LABELS[data.level],
                       detail={"case_id": str(data.case_id), "due_at": data.due_at.isoformat()})
    if data.level == "red":
        return AlertChange(opens=(opened,), resolves=(Resolution(site, "case_yellow", subject, "escalated to red"),))
    return AlertChange(opens=(opened,))


def case_completed(site: str, data: mev.CaseCompleted, bad_level: int) -> AlertChange:
    """A completed case resolves its cards."""
    subject = f"case:{data.case_id}"
    return AlertChange(resolves=(Resolution(site, "case_yellow", subject, "case completed"),
                                 Resolution(site, "case_red", subject, "case completed")))


# (site, the event's typed data, the bad-rating threshold) -> the alerts it opens and resolves
EventAlertRule = Callable[[str, Any, int], AlertChange]
EVENT_ALERTS: dict[type[EventData], EventAlertRule] = {
    rev.RatingSubmitted: bad_rating,
    rev.ComplaintOverdue: complaint_overdue,
    rev.ComplaintClosed: complaint_closed,
    mev.CaseWarned: case_warned,
    mev.CaseCompleted: case_completed,
}


# --- the lifecycle: open → acknowledged → resolved -------------------------------------------------------------
AlertAction = Literal["ack", "resolve"]


class AlertNotFound(errors.NotFound):
    """No alert of that id (404)."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"没有该告警 / no alert {alert_id}")


class AlertAlreadyResolved(errors.Conflict):
    """Nothing can be done to a resolved alert (409)."""

    def __init__(self, state: str) -> None:
        super().__init__("告警已解除 / the alert is already resolved", state=state)


class AlertAlreadyAcknowledged(errors.Conflict):
    """Only an open alert can be acknowledged (409)."""

    def __init__(self, state: str) -> None:
        super().__init__("告警已确认 / the alert is already acknowledged", state=state)


def next_state(state: str, action: AlertAction) -> str:
    """The state ``action`` moves an alert in ``state`` to: ``ack`` open → acknowledged, ``resolve`` open or
    acknowledged → resolved."""
    if state == "resolved":
        raise AlertAlreadyResolved(state)
    if action == "ack":
        if state != "open":
            raise AlertAlreadyAcknowledged(state)
        return "acknowledged"
    return "resolved"
