"""Pure rules of central supervision (监管): wait histograms and p90, satisfaction, sites' office hours, the
alert thresholds, report maths, the rating chain's check. Which alerts a site's state or an event calls for is in
``alerts.py``. No I/O here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import errors

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


# --- ratings: counted as the nation counts (好差评) -------------------------------------------------------------------
@dataclass(frozen=True)
class ScaleRule:
    """How a scale's levels count: 好评 (satisfied) at or above ``satisfied_min``, 差评 at or below ``bad_max``."""

    satisfied_min: int
    bad_max: int


# national: 5 非常满意 4 满意 3 基本满意 are 好评, 2 不满意 1 非常不满意 差评; the seeds' four levels: 一般 (2) is the
# 基本满意 of that scale (its default), 不满意 (1) the 差评
SCALE_RULES = {"national5": ScaleRule(satisfied_min=3, bad_max=2), "seeds4": ScaleRule(satisfied_min=2, bad_max=1)}


def scale_rule(scale: str | None) -> ScaleRule:
    """The rule of a scale (the national one for an unknown or missing name)."""
    return SCALE_RULES.get(scale or "national5", SCALE_RULES["national5"])


def is_satisfied(level: int, scale: str | None) -> bool:
    """好评: 基本满意 and better (levels ≥ 3 of 5; ≥ 2 of the seeds' 4)."""
    return level >= scale_rule(scale).satisfied_min


def rating_counters(kind: str, level: int, scale: str | None) -> dict[str, int]:
    """THE counting rule at central: what one standing rating adds to its day's figures. A given rating counts in
    ``rated``, one that defaulted (no answer in time, 基本满意) in ``defaulted``; either is ``satisfied`` at 好评 levels
    and ``bad`` at 差评 levels of its scale. The hour's series counts ``judged`` (rated + defaulted) and ``satisfied``
    alike (``hour_counters``)."""
    rule = scale_rule(scale)
    return {"rated": int(kind == "submitted"), "defaulted": int(kind == "defaulted"),
            "satisfied": int(level >= rule.satisfied_min), "bad": int(level <= rule.bad_max)}


def voided_counters(counted: Mapping[str, int]) -> dict[str, int]:
    """A voided rating (申诉复核 upheld) leaves every figure: it takes back what it counted, and counts as voided."""
    return {**{k: -int(counted.get(k, 0)) for k in ("rated", "defaulted", "satisfied", "bad")}, "voided": 1}


def hour_counters(day_counters: Mapping[str, int]) -> dict[str, int]:
    """The hour series' share of a rating's day counters (``judged`` = rated + defaulted, ``satisfied``)."""
    return {"judged": day_counters.get("rated", 0) + day_counters.get("defaulted", 0),
            "satisfied": day_counters.get("satisfied", 0)}


def participation(c: Mapping[str, int]) -> float | None:
    """参评率, by the ratings service's rule (its ``Tally.participation``): the standing ratings the citizen gave
    (``rated``: not defaulted, not voided) over the invitations opened (一次一评 tickets and 一事一评 cases alike);
    None before any invitation."""
    return ratio(c.get("rated", 0), c.get("invitations", 0))


def is_bad_rating(level: int, bad_level: int) -> bool:
    """差评 alert: a level at or below the threshold's ``bad_rating_level`` (the supervisors' choice)."""
    return level <= bad_level


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


DAY_MIN = 24 * 60
DAY_S = 24 * 3600


class Thresholds(BaseModel):
    """Alert thresholds (告警阈值); defaults from settings, changed at ``PUT /thresholds``."""

    model_config = ConfigDict(extra="forbid")
    # bounds a hall would accept (minutes within a day, seconds within a day): a value beyond them is refused before
    # it is stored, so the evaluator never meets it (a year of minutes overflowed its timedelta once a second)
    long_wait_s: int = Field(1800, ge=60, le=DAY_S)  # longest wait in any queue above this
    queue_per_window: float = Field(10.0, gt=0, le=1000)  # waiting / max(windows open, 1) above this
    empty_window_min: int = Field(15, ge=1, le=DAY_MIN)  # 空窗: a staffed-today window closed or paused this long
    start_grace_min: int = Field(10, ge=0, le=DAY_MIN)  # 迟到: no window signed in this long after opening
    leave_grace_min: int = Field(10, ge=0, le=DAY_MIN)  # 早退: signed out earlier than closing minus this
    early_leave_lookback_min: int = Field(60, ge=1, le=DAY_MIN)  # … and no earlier than closing minus this
    idle_while_waiting_min: int = Field(10, ge=1, le=DAY_MIN)  # staffed, open, no call this long while people wait
    bad_rating_level: int = Field(2, ge=1, le=5)  # 差评: level at or below
    offline_after_s: int = Field(30, ge=5, le=DAY_S)  # no heartbeat for this long
    sms_failure_rate: float = Field(0.2, gt=0, le=1)
    sms_window_min: int = Field(30, ge=1, le=DAY_MIN)
    sms_min_messages: int = Field(10, ge=1, le=100_000)


class SiteNotFound(errors.NotFound):
    """No site of that id has been configured or heard from (404)."""

    def __init__(self, site: str) -> None:
        super().__init__(f"没有该大厅 / no site {site}")


class InvalidThresholds(errors.Unprocessable):
    """Threshold changes that leave a value out of range (422)."""

    def __init__(self, reason: object) -> None:
        super().__init__(f"阈值无效 / invalid thresholds: {reason}")


# --- reports ----------------------------------------------------------------------------------------------------
COUNTERS = ("issued", "called", "served", "no_shows", "cancelled", "turned_away", "transferred", "wait_sum",
            "wait_n", "service_sum", "service_n", "invitations", "rated", "defaulted", "satisfied", "bad", "voided",
            "complaints_opened", "complaints_closed", "complaints_overdue", "cases_accepted", "cases_completed",
            "cases_overdue", "cases_yellow", "cases_red", "sms_sent", "sms_failed")

HOUR_COUNTERS = ("issued", "served", "wait_sum", "wait_n", "judged", "satisfied")  # per site, day and hour

def figures(c: Mapping[str, int], hist: Mapping[int, int] | None = None,
            service_hist: Mapping[int, int] | None = None) -> dict[str, Any]:
    """Report figures from summed counters (and the wait and service-time histograms, for the p90s)."""
    judged = c.get("rated", 0) + c.get("defaulted", 0)
    return {
        "issued": c.get("issued", 0), "served": c.get("served", 0), "no_shows": c.get("no_shows", 0),
        "cancelled": c.get("cancelled", 0), "turned_away": c.get("turned_away", 0),
        "avg_wait_s": avg(c.get("wait_sum", 0), c.get("wait_n", 0)),
        "p90_wait_s": percentile(hist or {}, 0.9),
        "avg_service_s": avg(c.get("service_sum", 0), c.get("service_n", 0)),
        "p90_service_s": percentile(service_hist or {}, 0.9),
        "invitations": c.get("invitations", 0), "rated": c.get("rated", 0), "defaulted": c.get("defaulted", 0),
        "satisfied": c.get("satisfied", 0), "voided": c.get("voided", 0),
        "satisfaction": ratio(c.get("satisfied", 0), judged),
        "participation": participation(c),
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
                  ("no_shows", "过号数"), ("cancelled", "取消数"), ("turned_away", "闭厅未办"),
                  ("avg_wait_s", "平均等候(秒)"),
                  ("p90_wait_s", "90%等候(秒)"), ("avg_service_s", "平均办理(秒)"), ("satisfaction", "满意率"),
                  ("invitations", "邀评数"), ("participation", "参评率"), ("bad_ratings", "差评数"),
                  ("complaints_opened", "投诉受理"), ("complaints_closed", "投诉办结"), ("cases_completed", "办件办结"),
                  ("cases_overdue", "超期办件"), ("overdue_rate", "超期率"), ("sms_failed", "短信失败"),
                  ("late_starts", "迟到窗口"), ("early_leaves", "早退窗口"), ("empty_window_min", "空窗分钟"),
                  ("rank_satisfaction", "满意率排名"), ("rank_wait", "等候排名"))


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
