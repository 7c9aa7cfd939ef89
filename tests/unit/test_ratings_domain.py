"""Pure rules of the ratings service (``services/ratings/domain.py``): scales, the submission check, the open
check, which cases are invited online, the counting rule and the hash chain (the complaint state machine:
``test_ratings_complaint_rules.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.ratings import complaint_rules as rules
from services.ratings import domain as d

NAT = d.SCALES["national5"]
SEEDS = d.SCALES["seeds4"]
T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def test_scales_are_highest_best_with_their_defaults() -> None:
    """National: 5 非常满意 … 1 非常不满意, default 基本满意 (3); the seeds' four levels default to 一般."""
    assert NAT.levels == [5, 4, 3, 2, 1] and NAT.labels[5] == "非常满意" and NAT.labels[1] == "非常不满意"
    assert NAT.labels[NAT.default_level] == "基本满意" and NAT.satisfied_min == 3
    assert [SEEDS.labels[lv] for lv in SEEDS.levels] == ["非常满意", "满意", "一般", "不满意"]
    assert SEEDS.labels[SEEDS.default_level] == "一般"


def test_satisfied_is_basically_satisfied_and_better_as_the_nation_counts() -> None:
    """好评 = 非常满意, 满意, 基本满意 (≥ 3 of 5); on the seeds' scale 一般 and better; the default level is 好评."""
    assert [lv for lv in NAT.levels if NAT.is_satisfied(lv)] == [5, 4, 3]
    assert [lv for lv in SEEDS.levels if SEEDS.is_satisfied(lv)] == [4, 3, 2]
    for scale in (NAT, SEEDS):
        assert scale.is_satisfied(scale.default_level) and not scale.is_bad(scale.default_level)
        assert all(scale.is_satisfied(lv) != scale.is_bad(lv) for lv in scale.levels)  # every level is one of two


def test_only_promised_cases_are_invited_online() -> None:
    """一事一评 for a promised case (or one whose kind is unknown); a 即办件 was rated at the window (一次一评)."""
    assert d.invites_online("promised") and d.invites_online(None)
    assert not d.invites_online("instant")


def test_bad_ratings_are_the_two_lowest_national_levels() -> None:
    """差评 on the national scale is 不满意 or 非常不满意; on the seeds' scale 不满意."""
    assert [lv for lv in NAT.levels if NAT.is_bad(lv)] == [2, 1]
    assert [lv for lv in SEEDS.levels if SEEDS.is_bad(lv)] == [1]


def test_unknown_scale_is_refused() -> None:
    """A scale name that is not configured raises."""
    with pytest.raises(ValueError, match="unknown rating scale"):
        d.scale_of("ten-stars")


def test_valid_rating_is_cleaned() -> None:
    """Indicators are kept, repeated reasons dropped, free text stripped."""
    inds, tags, text = d.check_rating(NAT, 1, {"attitude": 1, "efficiency": 2}, ["long_wait", "long_wait"], "  慢 ")
    assert inds == {"attitude": 1, "efficiency": 2} and tags == ["long_wait"] and text == "慢"


@pytest.mark.parametrize(("level", "indicators", "reasons", "text", "match"), [
    (6, None, None, None, "level"),
    (0, None, None, None, "level"),
    (5, {"speed": 5}, None, None, "unknown indicator"),
    (5, {"attitude": 9}, None, None, "indicator attitude"),
    (2, None, ["rude_clerk"], None, "unknown reason"),
    (5, None, ["long_wait"], None, "bad rating only"),
    (1, None, None, "字" * 501, "too long|longer"),
])
def test_invalid_ratings_are_refused(level: int, indicators: Any, reasons: Any, text: Any, match: str) -> None:
    """Levels off the scale, unknown indicators or reasons, reasons on a good rating, long text: refused."""
    with pytest.raises(d.InvalidRating, match=match):
        d.check_rating(NAT, level, indicators, reasons, text)


def test_seeds_scale_has_no_level_five() -> None:
    """On the four-level scale 5 is not a level."""
    with pytest.raises(d.InvalidRating):
        d.check_rating(SEEDS, 5, None, None, None)


def test_open_check() -> None:
    """A rated invitation is a conflict; an expired one too; otherwise it may be rated."""
    d.check_open(rated=False, expires_at=T0 + timedelta(days=7), now=T0)
    with pytest.raises(d.AlreadyRated):
        d.check_open(rated=True, expires_at=T0 + timedelta(days=7), now=T0)
    with pytest.raises(d.InvitationExpired):
        d.check_open(rated=False, expires_at=T0, now=T0)


def _chain(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    prev = d.GENESIS
    for i in range(1, n + 1):
        e: dict[str, Any] = {"chain_seq": i, "rating_id": uuid.uuid4(), "kind": "submitted",
                             "invitation_id": uuid.uuid4(), "subject": "ticket", "subject_id": uuid.uuid4(),
                             "window_no": 3, "staff_id": "s003", "matter_id": "yl-txsq", "scale": "national5",
                             "level": 5, "indicators": {"attitude": 5}, "reasons": [], "text": None,
                             "channel": "onsite", "created_at": T0 + timedelta(minutes=i), "prev_hash": prev}
        e["chain_hash"] = d.chain_hash(prev, e)
        prev = e["chain_hash"]
        out.append(e)
    return out


def _pad(**kw: Any) -> None:
    args: dict[str, Any] = {"window_no": 3, "inv_subject": "ticket", "inv_window_no": 3,
                            "inv_completed_at": T0, "is_latest": True, "now": T0 + timedelta(minutes=4),
                            "minutes": 10.0}
    d.check_pad(**{**args, **kw})


def test_pad_rates_its_windows_latest_fresh_service() -> None:
    """Window 3's pad may rate window 3's latest ticket completed 4 (or exactly 10) minutes ago."""
    _pad()
    _pad(now=T0 + timedelta(minutes=10))


@pytest.mark.parametrize("kw", [{"inv_window_no": 4}, {"is_latest": False}, {"inv_subject": "case"},
                                {"inv_window_no": None}])
def test_pad_refuses_another_windows_or_an_earlier_service(kw: dict[str, Any]) -> None:
    """Another window's service, an earlier one of its own window, or a case: 409 with the pad message."""
    with pytest.raises(d.NotThisPad, match="该评价器只能评价本窗口刚办结的业务") as caught:
        _pad(**kw)
    assert (caught.value.status, caught.value.code) == (409, "NotThisPad")


def test_pad_refuses_a_service_completed_too_long_ago() -> None:
    """Past the configured minutes the pad is told to use the SMS link instead."""
    with pytest.raises(d.NotThisPad, match="超过 10 分钟"):
        _pad(now=T0 + timedelta(minutes=10, seconds=1))


def test_invitation_status_for_the_phone_page() -> None:
    """open before expiry; rated once the citizen rated; expired when past its time or defaulted."""
    later = T0 + timedelta(days=7)
    assert d.invitation_status(rated_kind=None, expires_at=later, now=T0) == "open"
    assert d.invitation_status(rated_kind="submitted", expires_at=later, now=later) == "rated"
    assert d.invitation_status(rated_kind=None, expires_at=later, now=later) == "expired"
    assert d.invitation_status(rated_kind="defaulted", expires_at=later, now=later) == "expired"


def test_canonical_json_is_stable() -> None:
    """Key order and time zone do not change the canonical form; a field's value does."""
    e = _chain(1)[0]
    shuffled = dict(reversed(list(e.items())))
    shuffled["created_at"] = e["created_at"].astimezone(ZoneInfo("Asia/Shanghai"))
    assert d.canonical(shuffled) == d.canonical(e)
    assert d.canonical({**e, "level": 4}) != d.canonical(e)


def test_intact_chain_verifies() -> None:
    """An untouched chain checks out entirely; an empty chain too."""
    chain = _chain(4)
    check = d.verify_chain(chain, head_seq=4, head_hash=chain[-1]["chain_hash"])
    assert (check.ok, check.checked, check.broken_at) == (True, 4, None)
    assert d.verify_chain([], head_seq=0, head_hash=d.GENESIS).ok


def test_edited_entry_is_found() -> None:
    """Changing a level in entry 3 breaks the chain at 3."""
    chain = _chain(5)
    chain[2] = {**chain[2], "level": 1}
    check = d.verify_chain(chain, head_seq=5, head_hash=chain[-1]["chain_hash"])
    assert (check.ok, check.checked, check.broken_at) == (False, 2, 3)


def test_edited_and_rehashed_entry_is_found_by_the_next_link() -> None:
    """A forger who also recomputes entry 2's hash breaks the link from entry 3."""
    chain = _chain(4)
    forged = {**chain[1], "level": 1}
    forged["chain_hash"] = d.chain_hash(forged["prev_hash"], forged)
    chain[1] = forged
    check = d.verify_chain(chain, head_seq=4, head_hash=chain[-1]["chain_hash"])
    assert (check.ok, check.broken_at) == (False, 3)


def test_deleted_entries_are_found() -> None:
    """A deleted middle entry is a gap at its position; deleted last entries disagree with the head."""
    chain = _chain(5)
    head = chain[-1]["chain_hash"]
    check = d.verify_chain(chain[:1] + chain[2:], head_seq=5, head_hash=head)
    assert (check.ok, check.checked, check.broken_at) == (False, 1, 2)
    check = d.verify_chain(chain[:3], head_seq=5, head_hash=head)
    assert (check.ok, check.checked, check.broken_at) == (False, 3, 4)


def test_tally_counts_each_level_defaults_and_voids_by_the_one_rule() -> None:
    """Levels 5–3 and a default are 好评, 2–1 差评; a voided 1 is in no figure but voided: 4 of 6 standing ratings
    satisfied, participation = given standing ratings over invitations."""
    counted = [d.Counted("submitted", "national5", lv) for lv in (5, 4, 3, 2, 1)]
    counted += [d.Counted("defaulted", "national5", 3), d.Counted("voided", "national5", 1)]
    t = d.tally(10, counted)
    assert (t.submitted, t.defaulted, t.voided, t.satisfied, t.bad) == (5, 1, 1, 4, 2)
    assert (t.rated, t.satisfaction, t.participation) == (6, round(4 / 6, 4), 0.5)
    seeds = d.tally(3, [d.Counted("submitted", "seeds4", 2, n=2), d.Counted("submitted", "seeds4", 1)])
    assert (seeds.satisfied, seeds.bad, seeds.satisfaction) == (2, 1, round(2 / 3, 4))


def test_tally_rates() -> None:
    """Satisfaction is over standing ratings, participation over invitations; nothing to divide by is None."""
    t = d.Tally(invitations=10, submitted=6, defaulted=2, voided=1, satisfied=6)
    assert (t.rated, t.satisfaction, t.participation) == (8, 0.75, 0.6)
    assert (d.Tally(0, 0, 0, 0, 0).satisfaction, d.Tally(0, 0, 0, 0, 0).participation) == (None, None)


def test_sealed_text_is_chained_only_when_there_is_one() -> None:
    """An entry without sealed text hashes as before the field existed; one with it hashes its sealed bytes."""
    entry = _chain(1)[0]
    assert d.canonical(entry) == d.canonical({**entry, "text_sealed": None})
    sealed = d.canonical({**entry, "text_sealed": b"\x01abc"})
    assert sealed != d.canonical(entry) and b'"text_sealed":"AWFiYw=="' in sealed


# --- complaint due days on the national calendar (shared/workdays.py) ---------------------------------
def test_complaint_due_skips_national_day_and_counts_the_make_up_saturday() -> None:
    """Opened Wed 2026-09-30, 5 working days: 10-01..10-07 are holidays; chinesecalendar has 10-08 (Thu), 10-09
    (Fri) and the 调休 Saturday 10-10 as working days, then 10-12 and 10-13."""
    from shared.workdays import WorkCalendar

    cal = WorkCalendar()
    assert cal.is_workday(date(2026, 10, 10))  # 调休: a Saturday worked
    assert not any(cal.is_workday(date(2026, 10, n)) for n in range(1, 8))
    assert rules.complaint_due_day(cal, date(2026, 9, 30), 5) == date(2026, 10, 13)


def test_complaint_due_across_the_spring_festival() -> None:
    """Opened Fri 2026-02-13: the 调休 Saturday 02-14 counts, 02-15..02-23 are the holiday, then 02-24..02-27."""
    from shared.workdays import WorkCalendar

    cal = WorkCalendar()
    assert rules.complaint_due_day(cal, date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert rules.complaint_due_day(cal, date(2026, 2, 13), 1) == date(2026, 2, 14)


def test_complaint_due_in_an_unknown_year_falls_back_to_weekends_with_a_warning() -> None:
    def unknown(day: date) -> bool:
        raise NotImplementedError

    from shared.workdays import WorkCalendar

    told: list[int] = []
    cal = WorkCalendar(on_unknown_year=told.append, source=unknown)
    assert rules.complaint_due_day(cal, date(2027, 11, 19), 5) == date(2027, 11, 26)
    assert told == [2027]


def test_ratings_app_warns_once_for_an_unknown_year() -> None:
    """The service's own calendar reports a year chinesecalendar does not know (logged once per year)."""
    from services.ratings.app import RatingsApp
    from services.ratings.settings import RatingsSettings

    def unknown(day: date) -> bool:
        raise NotImplementedError

    app = RatingsApp(None, RatingsSettings(site="t1", site_name="t", service="ratings"))  # no pool: nothing connects
    app.calendar._source = unknown  # a year past the package's data
    assert app.calendar.add_working_days(date(2027, 11, 19), 5) == date(2027, 11, 26)
    assert app.calendar.add_working_days(date(2027, 12, 1), 1) == date(2027, 12, 2)
    assert app._years_warned == {2027}


@pytest.mark.parametrize(("error", "status"), [
    (d.InvalidRating, 422), (d.AlreadyRated, 409), (d.InvitationExpired, 409), (d.NotThisPad, 409),
    (rules.ComplaintStateError, 409), (rules.NotYourStep, 403), (rules.SecondReviewerRequired, 403),
    (rules.StepInputInvalid, 422),
])
def test_errors_carry_their_http_kind_and_code(error: type[d.RatingsError], status: int) -> None:
    """Each domain error is a shared.errors kind: shared/http.py answers its status with the class name as code."""
    exc = error("message")
    assert (exc.status, exc.code, exc.message) == (status, error.__name__, "message")
