"""Pure rules of central supervision (监管): wait histograms and p90, satisfaction, office hours, which alerts a
site's state calls for, a site's status colour, report maths. No I/O here."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# --- histograms (p90 needs the distribution, kept per site and day) ----------------------------------------------
CAP_S = 4 * 3600


def bucket_of(seconds: int) -> int:
    """The lower bound of the histogram bucket holding ``seconds``: 10 s wide below 10 min, 30 s below 1 h,
    2 min below 4 h; everything longer shares one bucket."""
    s = max(0, int(seconds))
    if s < 600:
        return s - s % 10
    if s < 3600:
        return s - s % 30
    if s < CAP_S:
        return s - s % 120
    return CAP_S


def bucket_width(bucket: int) -> int:
    if bucket < 600:
        return 10
    if bucket < 3600:
        return 30
    if bucket < CAP_S:
        return 120
    return 0


def percentile(hist: Mapping[int, int], q: float) -> int | None:
    """The ``q`` quantile (0 < q ≤ 1) of a histogram {bucket: count}, to the bucket's resolution (its middle);
    None when empty."""
    n = sum(hist.values())
    if n <= 0:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return bucket + bucket_width(bucket) // 2
    return max(hist)  # unreachable: the counts add up to n


# --- ratings ----------------------------------------------------------------------------------------------------
SCALE_TOP = {"national5": 5, "seeds4": 4}


def is_satisfied(level: int, scale: str | None) -> bool:
    """满意: one of the scale's top two levels (5/4 on the national scale, 4/3 on the seeds' four-level one)."""
    return level >= SCALE_TOP.get(scale or "national5", 5) - 1


def ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def avg(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


# --- configuration: sites, office hours, thresholds ----------------------------------------------------------------
DEFAULT_HOURS = (("09:00", "12:00"), ("13:30", "17:00"))


class SiteConfig(BaseModel):
    """One hall as central knows it (from ``HALLNET_CENTRAL_SITES`` or the sites file)."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name: str = ""
    scale: str = "national5"
    office_hours: list[tuple[str, str]] = Field(default_factory=lambda: list(DEFAULT_HOURS))

    @field_validator("office_hours")
    @classmethod
    def _hours(cls, v: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for a, b in v:
            if time.fromisoformat(a) >= time.fromisoformat(b):  # ValueError for a malformed time, too
                raise ValueError(f"office hours {a}-{b}: the start must be before the end")
        return v

    def sessions(self) -> list[tuple[time, time]]:
        return [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in self.office_hours]


class Thresholds(BaseModel):
    """Alert thresholds (告警阈值); defaults from settings, changed at ``PUT /thresholds``."""

    model_config = ConfigDict(extra="forbid")
    long_wait_s: int = Field(1800, ge=60)  # longest wait in any queue above this
    queue_per_window: float = Field(10.0, gt=0)  # waiting / max(windows open, 1) above this
    empty_window_min: int = Field(15, ge=1)  # 空窗: a staffed-today window closed or paused this long
    start_grace_min: int = Field(10, ge=0)  # 迟到: no window signed in this long after opening
    leave_grace_min: int = Field(10, ge=0)  # 早退: signed out earlier than closing minus this
    early_leave_lookback_min: int = Field(60, ge=1)  # … and no earlier than closing minus this (else it is 空窗)
    bad_rating_level: int = Field(2, ge=1, le=5)  # 差评: level at or below
    offline_after_s: int = Field(30, ge=5)  # no heartbeat for this long
    sms_failure_rate: float = Field(0.2, gt=0, le=1)
    sms_window_min: int = Field(30, ge=1)
    sms_min_messages: int = Field(10, ge=1)


# --- alerts -----------------------------------------------------------------------------------------------------
SEVERITY = {"offline": "red", "case_red": "red", "complaint_overdue": "red", "long_wait": "yellow",
            "queue_long": "yellow", "empty_window": "yellow", "late_start": "yellow", "early_leave": "yellow",
            "bad_rating": "yellow", "case_yellow": "yellow", "sms_failure": "yellow"}
# kinds the evaluator opens and resolves from the current state (the others come with events)
CONDITION_KINDS = ("offline", "long_wait", "queue_long", "empty_window", "late_start", "early_leave", "sms_failure")


@dataclass(frozen=True)
class Candidate:
    """An alert the state calls for."""

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


@dataclass
class WindowState:
    window_no: int
    state: str  # closed / open / paused (a snapshot may say serving: staffed)
    since: datetime
    staffed_on: date | None = None  # the last site day the window was signed in

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


# --- reports ----------------------------------------------------------------------------------------------------
COUNTERS = ("issued", "called", "served", "no_shows", "cancelled", "transferred", "wait_sum", "wait_n",
            "service_sum", "service_n", "rated", "defaulted", "satisfied", "bad", "complaints_opened",
            "complaints_closed", "complaints_overdue", "cases_accepted", "cases_completed", "cases_overdue",
            "cases_yellow", "cases_red", "sms_sent", "sms_failed")


def figures(c: Mapping[str, int], hist: Mapping[int, int] | None = None,
            service_hist: Mapping[int, int] | None = None) -> dict[str, Any]:
    """Report figures from summed counters (and the wait and service-time histograms, for the p90s)."""
    judged = c.get("rated", 0) + c.get("defaulted", 0)
    return {
        "issued": c.get("issued", 0), "served": c.get("served", 0), "no_shows": c.get("no_shows", 0),
        "cancelled": c.get("cancelled", 0),
        "avg_wait_s": avg(c.get("wait_sum", 0), c.get("wait_n", 0)),
        "p90_wait_s": percentile(hist or {}, 0.9),
        "avg_service_s": avg(c.get("service_sum", 0), c.get("service_n", 0)),
        "p90_service_s": percentile(service_hist or {}, 0.9),
        "rated": c.get("rated", 0), "defaulted": c.get("defaulted", 0), "satisfied": c.get("satisfied", 0),
        "satisfaction": ratio(c.get("satisfied", 0), judged),
        "participation": ratio(c.get("rated", 0), c.get("served", 0)),
        "bad_ratings": c.get("bad", 0),
        "complaints_opened": c.get("complaints_opened", 0), "complaints_closed": c.get("complaints_closed", 0),
        "complaints_overdue": c.get("complaints_overdue", 0),
        "cases_accepted": c.get("cases_accepted", 0), "cases_completed": c.get("cases_completed", 0),
        "cases_overdue": c.get("cases_overdue", 0),
        "overdue_rate": ratio(c.get("cases_overdue", 0), c.get("cases_completed", 0)),
        "cases_yellow": c.get("cases_yellow", 0), "cases_red": c.get("cases_red", 0),
        "sms_sent": c.get("sms_sent", 0), "sms_failed": c.get("sms_failed", 0),
    }


def rank(rows: list[dict[str, Any]], key: str, *, descending: bool) -> list[str]:
    """Site ids ordered by ``key`` (best first); sites without the figure come last, by id."""
    have = [r for r in rows if r.get(key) is not None]
    have.sort(key=lambda r: (-r[key] if descending else r[key], r["site"]))
    return [r["site"] for r in have] + sorted(r["site"] for r in rows if r.get(key) is None)


REPORT_COLUMNS = (("site", "大厅编号"), ("name", "大厅名称"), ("issued", "取号数"), ("served", "办结数"),
                  ("no_shows", "过号数"), ("cancelled", "取消数"), ("avg_wait_s", "平均等候(秒)"),
                  ("p90_wait_s", "90%等候(秒)"), ("avg_service_s", "平均办理(秒)"), ("satisfaction", "满意率"),
                  ("participation", "参评率"), ("bad_ratings", "差评数"), ("complaints_opened", "投诉受理"),
                  ("complaints_closed", "投诉办结"), ("cases_completed", "办件办结"), ("cases_overdue", "超期办件"),
                  ("overdue_rate", "超期率"), ("sms_failed", "短信失败"), ("rank_satisfaction", "满意率排名"),
                  ("rank_wait", "等候排名"))


# --- the sites' rating chains, from the events alone (shared.chain) ---------------------------------------------
def verify_rating_chain(entries: Iterable[Mapping[str, Any]], conflicts: Iterable[Mapping[str, Any]]
                        ) -> dict[str, Any]:
    """Walk a site's chain as its events told it (``seq``, ``hash``, ``prev``, ``digest`` in seq order): every
    hash recomputes from prev + digest, every prev is the hash before it, no position is missing, and no later event
    claimed a held position with another hash. ``broken_at``: the first position that does not check out."""
    from shared.chain import GENESIS, link_hash

    clashes = sorted({int(c["seq"]) for c in conflicts})
    prev, expect, checked = GENESIS, 1, 0
    for e in entries:
        seq = int(e["seq"])
        if seq != expect:
            return {"ok": False, "checked": checked, "broken_at": expect, "conflicts": clashes,
                    "reason": f"entries {expect}–{seq - 1} never reached central (missing or not yet arrived)"}
        if link_hash(e["prev"], e["digest"]) != e["hash"]:
            return {"ok": False, "checked": checked, "broken_at": seq, "conflicts": clashes,
                    "reason": f"entry {seq}: its hash does not follow from its digest"}
        if e["prev"] != prev:
            return {"ok": False, "checked": checked, "broken_at": seq, "conflicts": clashes,
                    "reason": f"entry {seq} does not link to entry {seq - 1} as central received it (rewritten)"}
        checked += 1
        prev, expect = e["hash"], seq + 1
    if clashes:
        return {"ok": False, "checked": checked, "broken_at": clashes[0], "conflicts": clashes,
                "reason": f"entry {clashes[0]} was sent again with another hash (rewritten)"}
    return {"ok": True, "checked": checked, "broken_at": None, "conflicts": [], "reason": None}
