"""The back office (后台办理) through the matters API against real PostgreSQL and NATS: back-office tokens handle
their own department's cases only, the worklist (后台工作台) lists a department's open cases most urgent first
with their cards, 审核 and 复核 are done by two people, and the events name the department."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.matters.deadlines import check_deadlines
from tests.harness import Servers
from tests.integration.matters_fixtures import APPLICANTS, PREFIX, MattersEnv, matters_site_config, start_matters

INJURY = "工伤保险科"
PENSION = "企业养老保险科"
WORKLIST_FIELDS = {"id", "matter_id", "matter_name", "department", "status", "accepted_at", "due_at",
                   "remaining_working_days", "card", "applicant", "window_no", "staff_id", "next_steps"}


@pytest.fixture
async def env(servers: Servers, site: str, database_url: str, tmp_path: Path) -> AsyncIterator[MattersEnv]:
    cfg = matters_site_config(site)  # and three more matters of 工伤保险科
    cfg["matters"] += [{"matter_id": m, "name": m, "queue": "A"} for m in ("gs-ylbx", "gs-dysl", "gs-ldnl")]
    (tmp_path / "site.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    async with start_matters(servers, site, database_url, tmp_path) as e:
        yield e


async def test_back_office_handles_its_own_departments_cases_only(env: MattersEnv) -> None:
    """工伤保险科's back office reads and advances a 工伤认定 case; a 退休申请 of 企业养老保险科 is 403 for it, and
    accepting a case is 403 (a window's act); the window clerk still does everything."""
    injury = (await env.accept("gs-rdsq"))["id"]
    pension = (await env.accept("yl-txsq", applicant=APPLICANTS[1]))["id"]
    gs = env.backoffice("b101", INJURY)
    r = await env.client.get(f"{PREFIX}/cases/{injury}", headers=gs)
    assert r.status_code == 200 and r.json()["department"] == INJURY
    assert r.json()["applicant"]["phone"] == "138****1234"
    case = await env.act(injury, "steps", {"step": "review"}, headers=gs)
    assert case["next_step"] == "investigate" and case["history"][-1]["staff_id"] == "b101"
    for method, path, body in (("get", f"/cases/{pension}", None), ("post", f"/cases/{pension}/steps",
                                                                    {"step": "review"}),
                               ("post", f"/cases/{pension}/suspend", {"reason_code": "hearing"}),
                               ("post", f"/cases/{pension}/complete", {"result": "rejected"})):
        r = await env.client.request(method, PREFIX + path, json=body, headers=gs)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "NotYourDepartment" and r.json()["message"].startswith("该办件属于企业养老保险科")
    r = await env.client.post(f"{PREFIX}/cases", headers=gs, json={
        "matter_id": "gs-rdsq", "applicant": APPLICANTS[2], "provided": []})
    assert r.status_code == 403 and r.json()["error"] == "NotForThisRole" and "受理" in r.json()["message"]
    listed = await env.client.get(f"{PREFIX}/cases", headers=gs)
    assert [c["id"] for c in listed.json()] == [injury]
    assert (await env.act(pension, "steps", {"step": "review"}))["next_step"] == "recheck"  # the window clerk
    assert (await env.client.get(f"{PREFIX}/cases/{pension}", headers=env.manager)).status_code == 200


async def test_review_and_recheck_by_two_people(env: MattersEnv) -> None:
    """审核 by b101 then 复核 by b101 is 409 in plain words and changes nothing; 复核 by b102 goes through."""
    case_id = (await env.accept("gs-rdsq"))["id"]
    b1, b2 = env.backoffice("b101", INJURY), env.backoffice("b102", INJURY)
    await env.act(case_id, "steps", {"step": "review"}, headers=b1)
    await env.act(case_id, "steps", {"step": "investigate"}, headers=b1)  # not a review/recheck pair
    r = await env.client.post(f"{PREFIX}/cases/{case_id}/steps", json={"step": "recheck"}, headers=b1)
    assert r.status_code == 409
    assert r.json() == {"error": "RecheckBySameStaff",
                        "message": "复核须由审核人以外的另一人办理（审核已由b101办理） / "
                                   "the recheck must be done by someone other than the reviewer (b101)"}
    case = await env.act(case_id, "steps", {"step": "recheck"}, headers=b2)
    assert [(s["code"], s["staff_id"]) for s in case["steps"]] == [
        ("accept", "s001"), ("review", "b101"), ("investigate", "b101"), ("recheck", "b102")]
    done = await env.act(case_id, "complete", {"result": "approved"}, headers=b1)
    assert done["status"] == "completed"
    events = await env.events(expect=6)
    completed = [e.data for e in events if e.type == "matters.case.completed"]
    assert [(c["department"], c["kind"]) for c in completed] == [(INJURY, "promised")]
    assert [e.data["department"] for e in events if e.type == "matters.case.accepted"] == [INJURY]


async def _worklist(env: MattersEnv, headers: dict[str, str], **params: Any) -> Any:
    r = await env.client.get(f"{PREFIX}/worklist", headers=headers, params=params)
    return r.json() if r.status_code == 200 else (r.status_code, r.json())


async def test_worklist_sorted_by_working_days_left_with_cards(env: MattersEnv) -> None:
    """On 2026-03-06 工伤保险科's worklist shows the overdue case (red, −1 day) first, then 1 day left (yellow), 4
    left, a decision waiting for pickup, and the suspended case last; closed cases and other departments' are not
    there. A manager sees every department or one; a window clerk has no worklist."""
    env.clock.set(2026, 2, 13, 10)
    overdue = (await env.accept("gs-ylbx"))["id"]  # due 03-05
    suspended = (await env.accept("gs-rdsq", applicant=APPLICANTS[1]))["id"]
    decision = (await env.accept("gs-ldnl", applicant=APPLICANTS[2]))["id"]
    rejected = (await env.accept("gs-dysl"))["id"]
    pension = (await env.accept("yl-txsq"))["id"]
    refused = (await env.accept("gs-ylbx", provided=[], expect=422))["id"]
    env.clock.set(2026, 2, 24, 10)
    yellow = (await env.accept("gs-dysl", applicant=APPLICANTS[1]))["id"]  # due 03-09
    env.clock.set(2026, 2, 27, 10)
    later = (await env.accept("gs-ylbx", applicant=APPLICANTS[2]))["id"]  # due 03-12
    gs, other = env.backoffice("b101", INJURY), env.backoffice("b102", INJURY)
    await env.act(suspended, "suspend", {"reason_code": "appraisal"}, headers=gs)
    await env.act(decision, "steps", {"step": "review"}, headers=gs)
    await env.act(decision, "steps", {"step": "recheck"}, headers=other)
    await env.act(decision, "complete", {"result": "approved"}, headers=gs)
    await env.act(rejected, "complete", {"result": "rejected"}, headers=gs)
    env.clock.set(2026, 3, 6, 10)

    items = await _worklist(env, gs)
    assert [i["id"] for i in items] == [overdue, yellow, later, decision, suspended]
    assert [(i["remaining_working_days"], i["card"], i["next_steps"]) for i in items] == [
        (-1, "red", ["review"]), (1, "yellow", ["review"]), (4, None, ["review"]),
        (None, None, ["ready_for_pickup"]), (None, None, ["resume"])]
    first = items[0]
    assert set(first) == WORKLIST_FIELDS
    assert first["applicant"] == {"name": "张**", "id_no": "4301**********1238", "phone": "138****1234"}
    assert (first["matter_id"], first["matter_name"], first["department"], first["status"]) == (
        "gs-ylbx", "工伤医疗费用报销", INJURY, "accepted")
    assert (first["accepted_at"], first["due_at"]) == ("2026-02-13T10:00:00.000+08:00",
                                                       "2026-03-05T23:59:59.000+08:00")
    assert (first["window_no"], first["staff_id"]) == (1, "s001")
    assert items[3]["status"] == "completed" and items[4]["due_at"] is None
    assert rejected not in {i["id"] for i in items} and refused not in {i["id"] for i in items}

    everything = await _worklist(env, env.manager)
    assert {i["id"] for i in everything} == {i["id"] for i in items} | {pension}
    assert [i["id"] for i in await _worklist(env, env.manager, department=PENSION)] == [pension]
    assert await _worklist(env, gs, department=INJURY) == items
    status, body = await _worklist(env, gs, department=PENSION)
    assert status == 403 and body["error"] == "NotYourDepartment"
    status, body = await _worklist(env, env.auth())
    assert status == 403 and body["error"] == "NotForThisRole"

    mine = (await env.client.get(f"{PREFIX}/cases", params={"mine": "true"}, headers=env.auth())).json()
    cards = {c["id"]: (c["remaining_working_days"], c["card"]) for c in mine}
    assert cards[overdue] == (-1, "red") and cards[yellow] == (1, "yellow") and cards[later] == (4, None)
    assert cards[suspended] == (None, None) and cards[refused] == (None, None)
    one = (await env.client.get(f"{PREFIX}/cases/{yellow}", headers=gs)).json()
    assert (one["remaining_working_days"], one["card"]) == (1, "yellow")

    shown = {(str(c), lv.value) for c, lv in await check_deadlines(env.app)}
    assert {(overdue, "red"), (yellow, "yellow"), (pension, "red")} <= shown
    warned = await env.events(expect=len(shown), types=("matters.case.warned",))
    by_case = {e.data["case_id"]: e.data for e in warned}
    assert (by_case[overdue]["department"], by_case[overdue]["kind"]) == (INJURY, "promised")
    assert by_case[pension]["department"] == PENSION
