"""The complaint state machine of a bad rating (差评整改, ``services/ratings/complaint_rules.py``): every step from
every state, who may take it, what it needs, and the steps the manager screen offers."""

from __future__ import annotations

from datetime import date

import pytest

from services.ratings import complaint_rules as rules

MGR = rules.Actor("m001", is_manager=True)
MGR2 = rules.Actor("m002", is_manager=True)
CLERK = rules.Actor("s002", is_manager=False)  # the rated clerk
OTHER = rules.Actor("s009", is_manager=False)
TODAY = date(2026, 11, 23)
DUE = date(2026, 11, 30)


def facts(status: str, appealed_by: str | None = None, appealed_from: str | None = None) -> rules.ComplaintFacts:
    return rules.ComplaintFacts(status=status, rated_staff_id="s002", due_day=DUE, appealed_by=appealed_by,
                                appealed_from=appealed_from)


def test_the_whole_way_verify_rectify_close() -> None:
    """回访核实 → 整改 → 办结 ends closed as rectified; explain instead ends closed as explained."""
    assert rules.decide(facts("open"), MGR, "verify").to == "verified"
    assert rules.decide(facts("verified"), CLERK, "rectify", note="已致歉").to == "rectified"
    assert rules.decide(facts("rectified"), MGR, "close") == rules.Step("close", "closed", outcome="rectified")
    assert rules.decide(facts("verified"), MGR, "explain", note="政策规定").to == "explained"
    assert rules.decide(facts("explained"), MGR, "close").outcome == "explained"


def test_rectify_by_a_date_then_done() -> None:
    """限期整改: by a day up to the due day → rectifying; then done (no date) → rectified, or explained instead."""
    step = rules.decide(facts("verified"), MGR, "rectify", rectify_by=date(2026, 11, 27), today=TODAY)
    assert (step.to, step.rectify_by) == ("rectifying", date(2026, 11, 27))
    assert rules.decide(facts("rectifying"), CLERK, "rectify").to == "rectified"
    assert rules.decide(facts("rectifying"), CLERK, "explain", note="设备需采购").to == "explained"
    for by, match in ((date(2026, 11, 20), "in the past"), (date(2026, 12, 1), "due day")):
        with pytest.raises(rules.StepInputInvalid, match=match):
            rules.decide(facts("verified"), MGR, "rectify", rectify_by=by, today=TODAY)
    with pytest.raises(rules.StepInputInvalid, match="already being rectified"):
        rules.decide(facts("rectifying"), MGR, "rectify", rectify_by=DUE, today=TODAY)


def test_an_appeal_is_decided_by_a_second_manager() -> None:
    """申诉 by the clerk or a manager; 复核 by a manager who neither appealed nor was rated: approve voids and closes,
    reject goes back to where the complaint was; one appeal per complaint."""
    appealed = facts("appealed", appealed_by="m001", appealed_from="verified")
    assert rules.decide(facts("open"), CLERK, "appeal", note="恶意差评").to == "appealed"
    with pytest.raises(rules.SecondReviewerRequired, match="另一位值班长"):
        rules.decide(appealed, MGR, "approve", note="x")
    with pytest.raises(rules.SecondReviewerRequired):
        rules.decide(appealed, MGR, "reject", note="x")
    with pytest.raises(rules.SecondReviewerRequired, match="自己"):
        rules.decide(facts("appealed", appealed_by="m001"), rules.Actor("s002", True), "approve", note="x")
    assert rules.decide(appealed, MGR2, "approve", note="监控核实") == rules.Step(
        "approve", "closed", outcome="voided", voids_rating=True)
    assert rules.decide(appealed, MGR2, "reject", note="确有其事").to == "verified"
    assert rules.decide(facts("appealed", appealed_by="s002", appealed_from="open"), MGR, "reject",
                        note="x").to == "open"
    with pytest.raises(rules.ComplaintStateError, match="不能再次申诉"):
        rules.decide(facts("verified", appealed_by="m001", appealed_from="verified"), MGR, "appeal", note="again")


@pytest.mark.parametrize(("status", "action", "match"), [
    ("verified", "close", "须先整改或解释说明"),
    ("open", "rectify", "请先回访核实"),
    ("open", "close", "须先整改或解释说明"),
    ("verified", "verify", "无需再回访核实"),
    ("closed", "appeal", "已办结"),
    ("closed", "close", "已办结"),
    ("appealed", "close", "申诉待复核"),
    ("appealed", "rectify", "申诉待复核"),
    ("rectified", "approve", "没有待复核的申诉"),
    ("rectifying", "appeal", "不能申诉"),
])
def test_a_step_out_of_turn_is_a_conflict_a_manager_understands(status: str, action: str, match: str) -> None:
    """Each refused step says in Chinese first what to do instead (409)."""
    with pytest.raises(rules.ComplaintStateError, match=match) as exc:
        rules.decide(facts(status), MGR, action, note="n")
    assert exc.value.status == 409


@pytest.mark.parametrize(("actor", "action", "status"), [
    (CLERK, "verify", "open"), (CLERK, "close", "rectified"), (OTHER, "rectify", "verified"),
    (OTHER, "appeal", "open"), (CLERK, "approve", "appealed"),
])
def test_steps_of_someone_else_are_forbidden(actor: rules.Actor, action: str, status: str) -> None:
    """Verify and close are a manager's; rectify, explain and appeal the rated clerk's or a manager's (403)."""
    with pytest.raises(rules.NotYourStep) as exc:
        rules.decide(facts(status, appealed_by="m001" if status == "appealed" else None), actor, action, note="n")
    assert exc.value.status == 403


@pytest.mark.parametrize("action", ["explain", "appeal"])
def test_explanations_and_appeals_need_their_reason(action: str) -> None:
    """解释说明 and 申诉 without a note are refused (422) — and so are approve and reject."""
    with pytest.raises(rules.StepInputInvalid, match="note"):
        rules.decide(facts("verified"), MGR, action, note="  ")
    with pytest.raises(rules.StepInputInvalid):
        rules.decide(facts("appealed", appealed_by="s002"), MGR, "approve")


def test_closing_with_another_outcome_is_refused() -> None:
    """A rectified complaint closes as rectified; asking for 'explained' is 422."""
    with pytest.raises(rules.StepInputInvalid, match="rectified"):
        rules.decide(facts("rectified"), MGR, "close", outcome="explained")


def test_next_actions_are_what_this_person_may_do_now() -> None:
    """The screen's buttons: a manager on an open complaint may verify or appeal; the appellant sees approve and
    reject blocked with the reason; a clerk never sees verify or close; nothing on a closed complaint."""
    assert rules.next_actions(facts("open"), MGR) == (["verify", "appeal"], [])
    assert rules.next_actions(facts("verified"), CLERK)[0] == ["rectify", "explain", "appeal"]
    allowed, blocked = rules.next_actions(facts("appealed", appealed_by="m001"), MGR)
    assert allowed == [] and [a for a, _ in blocked] == ["approve", "reject"]
    assert "另一位值班长" in blocked[0][1]
    assert rules.next_actions(facts("appealed", appealed_by="m001"), MGR2)[0] == ["approve", "reject"]
    assert rules.next_actions(facts("rectified"), CLERK) == ([], [("close", rules.next_actions(
        facts("rectified"), CLERK)[1][0][1])])
    assert rules.next_actions(facts("closed"), MGR) == ([], [])


def test_every_reachable_state_offers_a_way_on_until_closed() -> None:
    """From every status but closed some step leads on, and every step the machine allows is decidable by a
    manager (a second one for the appeal) with a note: no dead end on the screen."""
    for status in rules.STATUS_LABELS:
        f = facts(status, appealed_by="m001" if status == "appealed" else None, appealed_from="verified")
        allowed = rules.state_actions(f)
        assert bool(allowed) == (status != "closed"), status
        for action in allowed:
            assert rules.decide(f, MGR2, action, note="n").to in rules.STATUS_LABELS


def test_working_days_left_count_the_calendar() -> None:
    """Due on the coming Monday seen on Friday: 1 working day left; due today: 0; a working day late: -1."""
    from shared.workdays import WorkCalendar

    cal = WorkCalendar()
    assert rules.working_days_left(cal, date(2026, 11, 20), date(2026, 11, 23)) == 1
    assert rules.working_days_left(cal, date(2026, 11, 23), date(2026, 11, 23)) == 0
    assert rules.working_days_left(cal, date(2026, 11, 24), date(2026, 11, 23)) == -1
