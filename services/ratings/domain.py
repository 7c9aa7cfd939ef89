"""Pure rules of the ratings service (好差评): scales, sub-indicators, reason tags for a bad rating, the
check of a submission, the default level of an unrated invitation, and the hash chain that makes the
ratings tamper-evident. No I/O here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import chain as chain_rule
from shared import errors

if TYPE_CHECKING:
    from shared.workdays import WorkCalendar


class RatingsError(errors.DomainError):
    """A rule of the domain refused something. Each rule's error subclasses a kind of ``shared.errors``
    (``Unprocessable`` 422, ``Conflict`` 409), which the HTTP layer maps; its JSON ``error`` code is the class
    name."""


class InvalidRating(errors.Unprocessable, RatingsError):
    pass


class AlreadyRated(errors.Conflict, RatingsError):
    pass


class InvitationExpired(errors.Conflict, RatingsError):
    pass


class NotThisPad(errors.Conflict, RatingsError):
    """A window's rating pad (评价器) submitted for a service that is not its window's latest, fresh one."""


@dataclass(frozen=True)
class Scale:
    """A rating scale: integer levels, highest = best (CONTRACT.md)."""

    name: str
    labels: Mapping[int, str]
    default_level: int  # what an invitation not rated in time counts as (基本满意 on the national scale)
    bad_max: int  # levels at or below this are a bad rating (差评), followed up

    @property
    def levels(self) -> list[int]:
        return sorted(self.labels, reverse=True)

    @property
    def satisfied_min(self) -> int:
        """The lowest of the top two levels: the satisfaction rate counts ratings at or above it."""
        return self.levels[1]

    def is_bad(self, level: int) -> bool:
        return level <= self.bad_max


# 全国政务服务"好差评": five levels; the seeds' hall used four (非常满意, 满意, 一般, 不满意)
SCALES: dict[str, Scale] = {
    "national5": Scale("national5", {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"},
                       default_level=3, bad_max=2),
    "seeds4": Scale("seeds4", {4: "非常满意", 3: "满意", 2: "一般", 1: "不满意"}, default_level=2, bad_max=1),
}

# sub-indicators rated on site (现场评价), each on the same scale as the overall level
INDICATORS: dict[str, str] = {"efficiency": "服务效率", "skill": "服务水平", "attitude": "服务态度"}

# reason tags a citizen may pick for a bad rating (差评原因)
REASONS: dict[str, str] = {
    "long_wait": "等候时间长",
    "slow_service": "办理效率低",
    "bad_attitude": "服务态度差",
    "not_told_at_once": "未一次性告知",
    "unclear_explanation": "解释不清楚",
    "left_window": "窗口无人/离岗",
    "refused": "推诿拒办",
    "other": "其他",
}

TEXT_MAX = 500


def scale_of(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown rating scale {name!r} (known: {', '.join(SCALES)})") from None


def check_rating(scale: Scale, level: int, indicators: Mapping[str, int] | None,
                 reasons: Sequence[str] | None, text: str | None) -> tuple[dict[str, int], list[str], str | None]:
    """The submission as stored (indicators, reasons without repeats, text stripped) or InvalidRating."""
    if level not in scale.labels:
        raise InvalidRating(f"评价等级无效 / level must be one of {scale.levels} on scale {scale.name}")
    inds = dict(indicators or {})
    for key, value in inds.items():
        if key not in INDICATORS:
            raise InvalidRating(f"未知的评价指标 / unknown indicator {key!r} (known: {', '.join(INDICATORS)})")
        if value not in scale.labels:
            raise InvalidRating(f"指标 {INDICATORS[key]} 的等级无效 / indicator {key} must be one of {scale.levels}")
    tags = list(dict.fromkeys(reasons or []))
    for tag in tags:
        if tag not in REASONS:
            raise InvalidRating(f"未知的差评原因 / unknown reason {tag!r} (known: {', '.join(REASONS)})")
    if tags and not scale.is_bad(level):
        raise InvalidRating("差评原因仅用于差评 / reasons are given with a bad rating only")
    cleaned = (text or "").strip() or None
    if cleaned is not None and len(cleaned) > TEXT_MAX:
        raise InvalidRating(f"评价内容过长 / text longer than {TEXT_MAX} characters")
    return inds, tags, cleaned


def check_open(*, rated: bool, expires_at: datetime, now: datetime) -> None:
    """一次一评 / 一事一评: one rating per invitation, and only before it expires."""
    if rated:
        raise AlreadyRated("该次服务已评价 / this service has already been rated")
    if now >= expires_at:
        raise InvitationExpired("评价已过期，按默认等级计 / the invitation expired and counts as the default level")


def check_pad(*, window_no: int, inv_subject: str, inv_window_no: int | None, inv_completed_at: datetime,
              is_latest: bool, now: datetime, minutes: float) -> None:
    """A pad rates only its own window's latest completed service (一次一评), within ``minutes`` of it."""
    if inv_subject != "ticket" or inv_window_no != window_no or not is_latest:
        raise NotThisPad(f"该评价器只能评价本窗口刚办结的业务 / the pad of window {window_no} rates only the "
                         "service that window completed last")
    if now - inv_completed_at > timedelta(minutes=minutes):
        raise NotThisPad(f"本窗口业务办结已超过 {minutes:g} 分钟，请通过短信链接评价 / the service was completed more "
                         f"than {minutes:g} minutes ago; rate it from the link sent by SMS")


def invitation_status(*, rated_kind: str | None, expires_at: datetime, now: datetime) -> str:
    """``rated`` (the citizen rated), ``expired`` (past its time: defaulted, or about to be) or ``open``."""
    if rated_kind == "submitted":
        return "rated"
    return "expired" if rated_kind == "defaulted" or now >= expires_at else "open"


# --- the hash chain -------------------------------------------------------------------------------
GENESIS = chain_rule.GENESIS
CHAINED_FIELDS = ("chain_seq", "rating_id", "kind", "invitation_id", "voids", "subject", "subject_id", "window_no",
                  "staff_id", "matter_id", "scale", "level", "indicators", "reasons", "text", "channel",
                  "void_reason", "approved_by", "created_at")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # uuids


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The canonical JSON of an entry's fixed fields: sorted keys, no spaces, UTF-8, times in UTC (µs)."""
    body = {k: _plain(entry.get(k)) for k in CHAINED_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_digest(entry: Mapping[str, Any]) -> str:
    """sha256 of the entry's canonical JSON: what leaves the site (in events) instead of the entry itself."""
    return chain_rule.digest(canonical(entry))


def chain_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """sha256(prev_hash + entry digest), hex (``shared.chain``: central checks links from the events alone)."""
    return chain_rule.link_hash(prev_hash, entry_digest(entry))


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    broken_at: int | None
    reason: str | None = None
    head_seq: int = 0


def verify_chain(entries: Iterable[Mapping[str, Any]], *, head_seq: int, head_hash: str) -> ChainCheck:
    """Walk the entries in chain_seq order: each must follow the previous one (no gap: a deletion), carry
    the hash of the previous one and its own correct hash (no edit); the last must be the recorded head
    (no deletion at the end). ``broken_at`` is the first chain position that does not check out."""
    prev_hash, expect_seq, checked = GENESIS, 1, 0
    for e in entries:
        seq = int(e["chain_seq"])
        if seq != expect_seq:
            return ChainCheck(False, checked, expect_seq, f"entry {expect_seq} is missing (deleted)", head_seq)
        if e["prev_hash"] != prev_hash:
            return ChainCheck(False, checked, seq, f"entry {seq} does not link to entry {seq - 1}", head_seq)
        if chain_hash(prev_hash, e) != e["chain_hash"]:
            return ChainCheck(False, checked, seq, f"entry {seq} was changed after it was written", head_seq)
        checked += 1
        prev_hash, expect_seq = e["chain_hash"], seq + 1
    last = expect_seq - 1
    if last != head_seq or prev_hash != head_hash:
        return ChainCheck(False, checked, min(last, head_seq) + 1,
                          f"chain ends at {last}, head says {head_seq} (entries deleted at the end)", head_seq)
    return ChainCheck(True, checked, None, None, head_seq)


# --- bad-rating follow-up (差评整改) -------------------------------------------------------------------
class ComplaintStateError(errors.Conflict, RatingsError):
    pass


# action → (statuses it may start from, status it leads to). 回访核实 → 整改 or 说明 → 办结; 申诉复核 before that.
COMPLAINT_ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "verify": (frozenset({"open"}), "verified"),
    "rectify": (frozenset({"verified"}), "rectified"),
    "explain": (frozenset({"verified"}), "explained"),
    "appeal": (frozenset({"open", "verified"}), "appealed"),
    "close": (frozenset({"rectified", "explained", "appealed"}), "closed"),
}
APPEAL_OUTCOMES = ("voided", "upheld")


def next_complaint_status(action: str, status: str) -> str:
    starts, to = COMPLAINT_ACTIONS[action]
    if status not in starts:
        raise ComplaintStateError(f"差评处理状态为 {status}，不能 {action} / a complaint that is {status} cannot be "
                                  f"{action}ed (allowed from: {', '.join(sorted(starts))})")
    return to


def close_outcome(status: str, outcome: str | None) -> str:
    """How a complaint closes: as rectified or explained, or for an appeal, voided (申诉成立) or upheld."""
    if status == "appealed":
        if outcome not in APPEAL_OUTCOMES:
            raise InvalidRating(f"申诉复核须给出结论 / closing an appeal needs outcome {' or '.join(APPEAL_OUTCOMES)}")
        return outcome
    if outcome is not None and outcome != status:
        raise InvalidRating(f"该差评已{status}，结论只能是 {status} / the outcome of this complaint is {status}")
    return status


def complaint_due_day(calendar: WorkCalendar, opened: date, days: int) -> date:
    """The day a complaint opened on ``opened`` is due: the ``days``-th working day after it (次日起算), with
    statutory holidays skipped and make-up working days (调休) counted."""
    return calendar.add_working_days(opened, days)


# --- statistics ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tally:
    """Counts of one group (a window, a clerk, a day)."""

    invitations: int
    submitted: int  # rated by the citizen and standing
    defaulted: int  # not rated in time, counted as the default level
    voided: int  # rated, then voided on appeal
    satisfied: int  # standing ratings in the top two levels

    @property
    def rated(self) -> int:
        return self.submitted + self.defaulted

    @property
    def satisfaction(self) -> float | None:
        """满意率: the top two levels over the standing ratings (given or defaulted)."""
        return round(self.satisfied / self.rated, 4) if self.rated else None

    @property
    def participation(self) -> float | None:
        """参评率: services the citizen rated (voided ones too) over invitations."""
        return round((self.submitted + self.voided) / self.invitations, 4) if self.invitations else None
