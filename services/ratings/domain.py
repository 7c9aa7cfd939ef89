"""Pure rules of the ratings service (好差评): scales, sub-indicators, reason tags for a bad rating, the
check of a submission, the default level of an unrated invitation, which completed services are invited to rate,
how ratings are counted (好评/差评, defaulted, voided), and the hash chain that makes the ratings tamper-evident.
The follow-up of a bad rating (差评整改) is ``complaint_rules.py``. No I/O here."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import chain as chain_rule
from shared import errors


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
    satisfied_min: int  # levels at or above this are 好评 (satisfied): 基本满意 and better on the national scale

    @property
    def levels(self) -> list[int]:
        return sorted(self.labels, reverse=True)

    def is_bad(self, level: int) -> bool:
        return level <= self.bad_max

    def is_satisfied(self, level: int) -> bool:
        """好评, as the nation counts: 非常满意, 满意 and 基本满意 (levels ≥ 3 of 5)."""
        return level >= self.satisfied_min


# 全国政务服务"好差评": five levels; the seeds' hall used four (非常满意, 满意, 一般, 不满意), where 一般 plays the part
# of 基本满意 (the default of an unrated service, and still satisfied)
SCALES: dict[str, Scale] = {
    "national5": Scale("national5", {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"},
                       default_level=3, bad_max=2, satisfied_min=3),
    "seeds4": Scale("seeds4", {4: "非常满意", 3: "满意", 2: "一般", 1: "不满意"}, default_level=2, bad_max=1,
                    satisfied_min=2),
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


def invites_online(case_kind: str | None) -> bool:
    """一事一评: a promised case (承诺件) is rated online once it is finished. A 即办件 finished at the window was
    rated there (一次一评, the ticket's invitation) and gets no online invitation; an unknown kind counts as
    promised."""
    return case_kind != "instant"


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
# chained only when set, so that entries written before the field existed keep their hashes
OPTIONAL_CHAINED_FIELDS = ("text_sealed",)  # the citizen's text, sealed (AES-GCM) before it reaches the database


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)  # uuids


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The canonical JSON of an entry's fixed fields: sorted keys, no spaces, UTF-8, times in UTC (µs)."""
    body = {k: _plain(entry.get(k)) for k in CHAINED_FIELDS}
    body.update({k: _plain(entry[k]) for k in OPTIONAL_CHAINED_FIELDS if entry.get(k) is not None})
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


# --- counting (好差评统计) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Counted:
    """Ratings of one group with the same standing, scale and level: ``state`` is ``submitted`` (given by the
    citizen and standing), ``defaulted`` (not given in time) or ``voided`` (voided on appeal, whatever it was)."""

    state: str
    scale: str
    level: int | None
    n: int = 1


@dataclass(frozen=True)
class Tally:
    """Counts of one group (a window, a clerk, a day)."""

    invitations: int
    submitted: int  # rated by the citizen and standing
    defaulted: int  # not rated in time, counted as the default level (基本满意)
    voided: int  # rated, then voided on appeal: in no other figure
    satisfied: int  # standing ratings (given or defaulted) at 好评 levels
    bad: int = 0  # standing ratings at 差评 levels

    @property
    def rated(self) -> int:
        return self.submitted + self.defaulted

    @property
    def satisfaction(self) -> float | None:
        """满意率: 好评 (基本满意 and better) over the standing ratings (given or defaulted)."""
        return round(self.satisfied / self.rated, 4) if self.rated else None

    @property
    def participation(self) -> float | None:
        """参评率: standing ratings the citizen gave over invitations."""
        return round(self.submitted / self.invitations, 4) if self.invitations else None


def tally(invitations: int, counted: Iterable[Counted]) -> Tally:
    """THE counting rule of this service (``GET /stats``): a standing rating, given or defaulted, is 好评 when its
    scale says so (``Scale.is_satisfied``) and 差评 when at or below the scale's ``bad_max``; a voided rating leaves
    every figure but ``voided``."""
    submitted = defaulted = voided = satisfied = bad = 0
    for c in counted:
        if c.state == "voided":
            voided += c.n
            continue
        if c.state == "submitted":
            submitted += c.n
        elif c.state == "defaulted":
            defaulted += c.n
        else:
            raise ValueError(f"unknown rating state {c.state!r}")
        scale = scale_of(c.scale)
        if c.level is not None and scale.is_satisfied(c.level):
            satisfied += c.n
        if c.level is not None and scale.is_bad(c.level):
            bad += c.n
    return Tally(invitations, submitted, defaulted, voided, satisfied, bad)
