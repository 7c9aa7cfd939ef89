"""Pure rules of the matters service (``services/matters/domain.py``): deadlines with suspensions, yellow and
red cards, the case state machine, the materials check (一次性告知); applicant checks and masks (``personal.py``);
and the shipped catalog (``services/matters/catalog.py``), its validation and a site's changes to it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.matters import domain as d
from services.matters import personal
from services.matters.catalog import (
    CATALOG_DIR,
    CatalogError,
    SiteChange,
    apply_changes,
    load_catalog,
    site_file_changes,
)
from shared.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
DEMO_SITES = Path(__file__).resolve().parents[2] / "hallnet" / "demo_sites"
CAL = WorkCalendar()


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TZ)


# --- deadlines -----------------------------------------------------------------------------------


def test_due_date_without_suspension_is_the_nth_working_day() -> None:
    """Accepted 2026-02-13 with 5 working days over the Spring Festival: due 2026-02-27."""
    assert d.due_date(CAL, date(2026, 2, 13), 5) == date(2026, 2, 27)
    assert d.end_of_day(date(2026, 2, 27), TZ).isoformat() == "2026-02-27T23:59:59+08:00"


def test_a_suspension_stops_the_clock_for_its_days() -> None:
    """Suspended 02-24, resumed 02-26: those two days do not count, so 5 days from 02-13 end on 03-02."""
    # 02-14 (调休) day 1, 02-24 day 2, 02-25/26 stopped, 02-27 day 3, Sat 02-28 (调休) day 4, Mon 03-02 day 5
    s = [d.Suspension(date(2026, 2, 24), date(2026, 2, 26))]
    assert d.due_date(CAL, date(2026, 2, 13), 5, s) == date(2026, 3, 2)
    assert d.working_days_used(CAL, date(2026, 2, 13), date(2026, 3, 2), s) == 5
    assert d.working_days_used(CAL, date(2026, 2, 13), date(2026, 2, 26), s) == 2


def test_a_suspension_over_a_holiday_only_costs_its_working_days() -> None:
    """Suspended before National Day and resumed after it: only the working days inside are given back."""
    plain = d.due_date(CAL, date(2026, 9, 28), 5)  # 09-29, 09-30, 10-08, 10-09, 10-10 (调休 Saturday)
    assert plain == date(2026, 10, 10)
    s = [d.Suspension(date(2026, 9, 29), date(2026, 10, 9))]  # stops 09-30, 10-08, 10-09
    assert d.due_date(CAL, date(2026, 9, 28), 5, s) == date(2026, 10, 14)


def test_several_suspensions_add_up() -> None:
    """Two suspensions each give back their own working days."""
    s = [d.Suspension(date(2026, 3, 2), date(2026, 3, 3)), d.Suspension(date(2026, 3, 4), date(2026, 3, 6))]
    # accepted Fri 02-27: Sat 02-28 (调休) and 03-02 count, 03-03 stopped, 03-04 counts, 03-05/06 stopped,
    # then 03-09 and 03-10
    assert d.due_date(CAL, date(2026, 2, 27), 5, s) == date(2026, 3, 10)


def test_suspend_and_resume_on_the_same_day_costs_nothing() -> None:
    """A suspension resumed the day it began stops no day."""
    s = [d.Suspension(date(2026, 2, 24), date(2026, 2, 24))]
    assert d.due_date(CAL, date(2026, 2, 13), 5, s) == date(2026, 2, 27)


def test_while_suspended_the_due_date_is_unknown() -> None:
    """An open suspension begun before the deadline leaves the due date open (None)."""
    assert d.due_date(CAL, date(2026, 2, 13), 5, [d.Suspension(date(2026, 2, 24))]) is None


def test_a_suspension_after_the_deadline_does_not_rescue_an_overdue_case() -> None:
    """Suspending an already overdue case leaves its due date where it was."""
    s = [d.Suspension(date(2026, 3, 5))]
    assert d.due_date(CAL, date(2026, 2, 13), 5, s) == date(2026, 2, 27)


def test_deadline_into_2027_with_a_suspension() -> None:
    """Across the year end, with 2027 counted by weekends (and an override) and a suspension."""
    cal = WorkCalendar({date(2027, 1, 1): False})
    s = [d.Suspension(date(2026, 12, 31), date(2027, 1, 5))]  # stops 01-01 (holiday anyway), 01-04, 01-05
    # accepted Mon 12-28: 12-29, 12-30, 12-31 count; then 01-06, 01-07
    assert d.due_date(cal, date(2026, 12, 28), 5, s) == date(2027, 1, 7)


def test_instant_matters_are_due_the_day_they_are_accepted() -> None:
    """A limit of 0 working days is the day of acceptance itself."""
    assert d.due_date(CAL, date(2026, 2, 15), 0) == date(2026, 2, 15)


def test_remaining_working_days_count_down_and_go_negative_when_overdue() -> None:
    """Working days left after today; past the deadline, minus the working days since it."""
    due = date(2026, 2, 27)
    assert d.remaining_working_days(CAL, date(2026, 2, 13), due) == 5
    assert d.remaining_working_days(CAL, date(2026, 2, 26), due) == 1
    assert d.remaining_working_days(CAL, due, due) == 0
    assert d.remaining_working_days(CAL, date(2026, 3, 3), due) == -3  # 02-28 (调休), 03-02, 03-03


# --- cards ---------------------------------------------------------------------------------------


def test_yellow_with_one_working_day_left_red_after_the_deadline() -> None:
    """Default policy: nothing early, yellow from one working day left, red once the due day has ended."""
    p = d.CardPolicy()
    due = date(2026, 2, 27)

    def level(now: datetime) -> d.Level | None:
        return d.card_level(CAL, now=now, due_on=due, limit_days=5, policy=p)

    assert level(at(date(2026, 2, 24))) is None
    assert level(at(date(2026, 2, 25))) is None  # 2 left
    assert level(at(date(2026, 2, 26))) is d.Level.YELLOW
    assert level(datetime(2026, 2, 27, 23, 59, 58, tzinfo=TZ)) is d.Level.YELLOW
    assert level(datetime(2026, 2, 28, 0, 0, 0, tzinfo=TZ)) is d.Level.RED


def test_yellow_by_share_of_the_limit_used() -> None:
    """With 80 % used as the rule and a 10-day limit, yellow comes when 8 working days are used."""
    p = d.CardPolicy(yellow_days_left=None, yellow_used_pct=80)
    due = CAL.add_working_days(date(2026, 3, 2), 10)  # Mon 03-02 + 10 → Mon 03-16
    assert due == date(2026, 3, 16)
    assert d.card_level(CAL, now=at(date(2026, 3, 11)), due_on=due, limit_days=10, policy=p) is None  # 7 used
    assert d.card_level(CAL, now=at(date(2026, 3, 12)), due_on=due, limit_days=10, policy=p) is d.Level.YELLOW


def test_card_policy_refuses_nonsense() -> None:
    """A negative day count or a share outside 1..100 % is a configuration error."""
    with pytest.raises(ValueError):
        d.CardPolicy(yellow_days_left=-1)
    with pytest.raises(ValueError):
        d.CardPolicy(yellow_used_pct=0)


def test_card_level_needs_a_zoned_time() -> None:
    """A naive time could put the deadline in the wrong day: refused."""
    with pytest.raises(ValueError):
        d.card_level(CAL, now=datetime(2026, 2, 27, 10), due_on=date(2026, 2, 27), limit_days=5,
                     policy=d.CardPolicy())


@pytest.mark.parametrize(("level", "already", "emit"), [
    (None, [], []),
    (d.Level.YELLOW, [], [d.Level.YELLOW]),
    (d.Level.YELLOW, ["yellow"], []),
    (d.Level.RED, ["yellow"], [d.Level.RED]),
    (d.Level.RED, ["red"], []),
    (d.Level.RED, [], [d.Level.RED]),
    (d.Level.YELLOW, ["red"], []),  # a case given more time after a red card does not go back to yellow
])
def test_each_card_is_emitted_at_most_once(level: d.Level | None, already: list[str], emit: list[d.Level]) -> None:
    """Cards already shown for a case are never emitted again."""
    assert d.cards_to_emit(level, already) == emit


# --- state machine ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(d.Status))
@pytest.mark.parametrize("action", list(d.ACTION_NAMES))
def test_every_status_and_action_follows_the_transition_table(status: d.Status, action: str) -> None:
    """Each action is allowed exactly where the table says; elsewhere a clear conflict, never a silent change."""
    allowed = d.TRANSITIONS[status]
    if action in allowed:
        assert d.next_status(status, action) is allowed[action]
    else:
        with pytest.raises(d.CaseNotInState, match="不能"):
            d.next_status(status, action)


def test_materials_missing_is_terminal() -> None:
    """A case that only got a 一次性告知单 can never be advanced (nothing is half-accepted)."""
    assert d.TRANSITIONS[d.Status.MATERIALS_MISSING] == {}


def test_steps_complete_in_order() -> None:
    """后台审核 before 复核; a step done twice or unknown is refused."""
    planned = ["review", "recheck"]
    assert d.check_step(d.Status.ACCEPTED, planned, [], "review") is d.Status.ACCEPTED
    with pytest.raises(d.StepOutOfOrder, match="review"):
        d.check_step(d.Status.ACCEPTED, planned, [], "recheck")
    with pytest.raises(d.StepOutOfOrder, match="already"):
        d.check_step(d.Status.ACCEPTED, planned, ["review"], "review")
    with pytest.raises(d.StepOutOfOrder, match="no step"):
        d.check_step(d.Status.ACCEPTED, planned, [], "sign")
    with pytest.raises(d.CaseNotInState):
        d.check_step(d.Status.SUSPENDED, planned, [], "review")


def test_approval_needs_every_step_but_a_rejection_may_come_early() -> None:
    """办结 approved only after 复核; rejected at any point while running."""
    planned = ["review", "recheck"]
    with pytest.raises(d.StepOutOfOrder, match="recheck"):
        d.check_complete(d.Status.ACCEPTED, planned, ["review"], d.Result.APPROVED)
    assert d.check_complete(d.Status.ACCEPTED, planned, planned, d.Result.APPROVED) is d.Status.COMPLETED
    assert d.check_complete(d.Status.ACCEPTED, planned, [], d.Result.REJECTED) is d.Status.COMPLETED


def test_only_approved_cases_with_something_to_collect_become_ready_for_pickup() -> None:
    """No pickup for matters without a card or certificate, nor for rejected cases."""
    assert d.check_ready_for_pickup(d.Status.COMPLETED, d.Result.APPROVED, "社会保障卡") is d.Status.READY_FOR_PICKUP
    with pytest.raises(d.CaseNotInState):
        d.check_ready_for_pickup(d.Status.COMPLETED, d.Result.APPROVED, None)
    with pytest.raises(d.CaseNotInState):
        d.check_ready_for_pickup(d.Status.COMPLETED, d.Result.REJECTED, "退休证")


# --- materials ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class M:
    id: str
    required: bool = True


MATERIALS = [M("id_card"), M("form"), M("agent_id", required=False), M("hukou")]


def test_every_missing_material_is_listed_at_once() -> None:
    """All required materials not handed in are listed together, in catalog order."""
    assert d.missing_materials(MATERIALS, ["form"]) == ["id_card", "hukou"]
    assert d.missing_materials(MATERIALS, ["id_card", "form", "hukou"]) == []


def test_conditional_materials_are_missing_only_when_their_condition_applies() -> None:
    """委托代办: the agent's ID is needed only when the clerk marks the condition as applying."""
    assert d.missing_materials(MATERIALS, ["id_card", "form", "hukou"], applicable=["agent_id"]) == ["agent_id"]


def test_unknown_material_ids_are_refused() -> None:
    """A typo in a material id is an error naming it, not a silently accepted case."""
    with pytest.raises(d.UnknownMaterial, match="passport"):
        d.missing_materials(MATERIALS, ["id_card", "passport"])


# --- applicant data ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["11010519491231002X", "11010519491231002x", "440524188001010014"])
def test_valid_id_numbers_pass(value: str) -> None:
    """The GB 11643 examples validate (a lower-case x is upper-cased)."""
    assert personal.normalize_id_no(value) == value.upper()


@pytest.mark.parametrize("value", ["110105194912310021", "11010519491231002", "1101051949123100XX",
                                   "110105194913310028", "abc"])
def test_invalid_id_numbers_fail_without_echoing_the_value(value: str) -> None:
    """Wrong check digit, length, characters or birth date: refused, and the message does not repeat it."""
    with pytest.raises(personal.InvalidApplicant) as err:
        personal.normalize_id_no(value)
    assert value not in err.value.message


def test_phone_and_name_are_normalised_or_refused() -> None:
    """+86 and separators are dropped from a mobile number; landlines, digits in names are refused."""
    assert personal.normalize_phone("+86 138-1234-1234") == "13812341234"
    with pytest.raises(personal.InvalidApplicant):
        personal.normalize_phone("0731-1234567")
    assert personal.normalize_name("  张  三 ") == "张 三"
    assert personal.normalize_name("阿依古丽·买买提") == "阿依古丽·买买提"
    with pytest.raises(personal.InvalidApplicant):
        personal.normalize_name("张3")


def test_masks_show_what_a_clerk_may_see() -> None:
    """张*, 4301**********1234, 138****1234."""
    assert personal.mask_name("张三") == "张*"
    assert personal.mask_name("欧阳娜娜") == "欧***"
    assert personal.mask_id_no("430102199001011238") == "4301**********1238"
    assert personal.mask_phone("13812341234") == "138****1234"


# --- catalog (事项目录) ---------------------------------------------------------------------------------


def _copy_catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, folder)
    return folder


def _edit(folder: Path, fname: str, edit: Callable[[dict[str, Any]], None]) -> None:
    path = folder / fname
    data = json.loads(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _entry(data: dict[str, Any], matter_id: str) -> dict[str, Any]:
    return next(m for m in data["matters"] if m["id"] == matter_id)


def test_shipped_catalog_has_forty_real_matters_in_every_category() -> None:
    """At least 40 entries over the eight 人社 categories, each with materials and consistent limits."""
    catalog = load_catalog()
    assert len(catalog) >= 40
    assert {"养老保险", "医疗保险", "生育保险", "工伤保险", "失业保险", "就业创业", "社会保障卡", "劳动关系"} <= \
        {s.category for s in catalog}
    for spec in catalog:
        assert spec.materials and spec.department
        assert (spec.promised_days == 0) == (spec.kind is d.Kind.INSTANT)
        assert spec.promised_days <= max(spec.legal_days, 0)
    txsq = catalog.get("yl-txsq")
    assert txsq is not None and txsq.pickup is not None and txsq.pickup.item == "退休证"
    assert {m.id for m in txsq.materials if not m.required} == {"special_job", "disability"}


def test_every_demo_site_matter_is_in_the_catalog_under_the_same_name() -> None:
    """The ids the demo sites route (hallnet/demo_sites/*.json) are catalog ids, for the same matter."""
    catalog = load_catalog()
    for path in sorted(DEMO_SITES.glob("*.json")):
        for m in json.loads(path.read_text(encoding="utf-8"))["matters"]:
            spec = catalog.get(m["matter_id"])
            assert spec is not None, f"{path.name}: {m['matter_id']}"
            assert spec.name == m["name"], f"{path.name}: {m['matter_id']}"


def test_promised_matters_default_to_review_then_recheck_in_their_department() -> None:
    """后台审核 → 复核 in the matter's 科室 unless the entry lists its own steps; 即办件 have none."""
    catalog = load_catalog()

    def steps_of(matter_id: str) -> list[Any]:
        spec = catalog.get(matter_id)
        assert spec is not None, matter_id
        return list(spec.back_office_steps)

    assert [(s.code, s.name, s.department) for s in steps_of("yl-gxzy")] == [
        ("review", "后台审核", "企业养老保险科"), ("recheck", "复核", "企业养老保险科")]
    assert [s.code for s in steps_of("gs-rdsq")] == ["review", "investigate", "recheck"]
    assert steps_of("yb-ydjy") == []


@pytest.mark.parametrize(("fname", "matter_id", "edit", "expect"), [
    ("yanglao.json", "yl-txsq", lambda m: m.update(promised_days=30), "promised_days 30 exceeds legal_days 20"),
    ("yanglao.json", "yl-txsq", lambda m: m.update(kind="soon"), "kind"),
    ("yanglao.json", "yl-txsq", lambda m: m.update(colour="red"), "colour"),
    ("yiliao.json", "yb-ydjy", lambda m: m.update(promised_days=3), "instant matter"),
    ("yiliao.json", "yb-ydjy", lambda m: m.update(materials=[]), "materials"),
    ("yiliao.json", "yb-ydjy", lambda m: m["materials"][2].pop("condition"), "needs its condition"),
    ("yiliao.json", "yb-ydjy", lambda m: m["materials"][1].update(id="ssc"), "repeated: ssc"),
    ("yiliao.json", "yb-ydjy", lambda m: m["materials"][1].update(form="scan"), "materials.1.form"),
    ("jiuye.json", "jy-knrd", lambda m: m.update(category="旅游"), "category"),
    ("jiuye.json", "jy-knrd", lambda m: m.update(queue="k"), "queue"),
])
def test_a_broken_entry_is_refused_with_a_message_naming_it(
        tmp_path: Path, fname: str, matter_id: str, edit: Callable[[dict[str, Any]], None], expect: str) -> None:
    """The loader names the file, the entry (id and name) and what is wrong with it."""
    folder = _copy_catalog(tmp_path)
    _edit(folder, fname, lambda data: edit(_entry(data, matter_id)))
    with pytest.raises(CatalogError) as err:
        load_catalog(folder)
    msg = str(err.value)
    assert f"catalog/{fname}" in msg and matter_id in msg and expect in msg
    assert load_catalog(CATALOG_DIR)  # the shipped catalog itself is untouched


def test_a_duplicate_id_names_both_places(tmp_path: Path) -> None:
    """An id defined twice, across files, is refused, naming where it was first defined."""
    folder = _copy_catalog(tmp_path)
    _edit(folder, "laodong.json", lambda data: data["matters"].append(
        {**_entry(json.loads((folder / "yanglao.json").read_text(encoding="utf-8")), "yl-txsq")}))
    with pytest.raises(CatalogError) as err:
        load_catalog(folder)
    msg = str(err.value)  # files load in name order: laodong.json first, yanglao.json is the duplicate
    assert msg.startswith("catalog/yanglao.json: matter #6 yl-txsq")
    assert "already defined in catalog/laodong.json" in msg


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    """A syntax error names the file."""
    folder = _copy_catalog(tmp_path)
    (folder / "shiye.json").write_text("{", encoding="utf-8")
    with pytest.raises(CatalogError, match="catalog/shiye.json: not valid JSON"):
        load_catalog(folder)


def test_site_file_enables_its_matters_on_its_queues_and_disables_the_rest() -> None:
    """宝盖镇 lists 11 matters: those run on its queues A/B, everything else is off at that site."""
    catalog = load_catalog()
    raw = json.loads((DEMO_SITES / "baogai.json").read_text(encoding="utf-8"))
    changes = site_file_changes(raw, catalog)
    matters = {s.id: apply_changes(s, [changes[s.id]]) for s in catalog}
    enabled = {m.id: m.queue for m in matters.values() if m.enabled}
    assert enabled == {m["matter_id"]: m["queue"] for m in raw["matters"]}
    assert not matters["gs-rdsq"].enabled
    assert site_file_changes({"site": "x"}, catalog) == {}


def test_site_file_naming_an_unknown_matter_is_refused() -> None:
    """A site routing a matter the catalog does not have is told which one."""
    with pytest.raises(CatalogError, match="'xx-nope' is not in the catalog"):
        site_file_changes({"matters": [{"matter_id": "xx-nope", "queue": "A"}]}, load_catalog())


def test_manager_layer_wins_and_limits_stay_legal() -> None:
    """A manager's later layer overrides the site file; a promised limit beyond the legal one is refused."""
    spec = load_catalog().get("yl-txsq")
    assert spec is not None
    m = apply_changes(spec, [SiteChange(enabled=True, queue="C"), SiteChange(queue="B", promised_days=8)])
    assert (m.enabled, m.queue, m.promised_days, m.changed) == (True, "B", 8, ("enabled", "queue", "promised_days"))
    with pytest.raises(CatalogError, match="yl-txsq"):
        apply_changes(spec, [SiteChange(promised_days=21)])
    instant = load_catalog().get("kk-gs")
    assert instant is not None
    with pytest.raises(CatalogError, match="instant"):
        apply_changes(instant, [SiteChange(promised_days=2)])


@pytest.mark.parametrize(("error", "status", "code"), [
    (d.CaseNotInState, 409, "CaseNotInState"), (d.StepOutOfOrder, 409, "StepOutOfOrder"),
    (d.UnknownMaterial, 422, "UnknownMaterial"), (personal.InvalidApplicant, 422, "InvalidApplicant"),
    (CatalogError, 422, "unprocessable"),
])
def test_errors_carry_their_http_kind_and_code(error: type[d.MattersError | CatalogError], status: int,
                                               code: str) -> None:
    """Each domain error is a shared.errors kind: shared/http.py answers its status with the class name as code."""
    exc = error("message")
    assert (exc.status, exc.code, exc.message) == (status, code, "message")
