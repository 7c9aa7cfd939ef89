"""Cases (办件) through the matters API against real PostgreSQL and NATS: acceptance with the materials
check, the 一次性告知单, steps to departments, suspension, completion, pickup, deadlines in working days
across the Spring Festival and into 2027, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from hallnet.embedded import free_port
from tests.harness import Servers
from tests.integration.matters_fixtures import (
    APPLICANTS,
    PREFIX,
    MattersEnv,
    matters_settings,
    matters_site_config,
    required_materials,
    start_matters,
    start_matters_process,
)


@pytest.fixture
async def env(servers: Servers, site: str, database_url: str, tmp_path: Path) -> AsyncIterator[MattersEnv]:
    async with start_matters(servers, site, database_url, tmp_path) as e:
        yield e


async def test_promised_case_from_window_to_pickup(env: MattersEnv) -> None:
    """A 退休申请 from 受理 on 2026-02-13 to pickup: due over the Spring Festival, each step an event."""
    receipt = await env.accept("yl-txsq")
    assert receipt["status"] == "accepted"
    assert receipt["due_at"] == "2026-03-05T23:59:59.000+08:00"  # 02-14 (调休), 02-24..02-28, 03-02..03-05
    case_id = receipt["id"]
    case = receipt["case"]
    assert case["applicant"] == {"name": "张**", "id_no": "4301**********1238", "phone": "138****1234"}
    assert case["owner_staff_id"] == "s001" and case["window_no"] == 1 and case["next_step"] == "review"

    await env.act(case_id, "steps", {"step": "recheck"}, expect=409)  # 复核 before 后台审核
    env.clock.set(2026, 2, 24, 9)
    await env.act(case_id, "steps", {"step": "review"})
    case = await env.act(case_id, "steps", {"step": "recheck"}, headers=env.auth("s002", 2))  # 复核: another person
    assert [s["done"] for s in case["steps"]] == [True, True, True]
    env.clock.set(2026, 2, 26, 15)
    case = await env.act(case_id, "complete", {"result": "approved"})
    # 02-14 (调休), 02-24, 02-25, 02-26
    assert (case["status"], case["working_days_used"], case["overdue"]) == ("completed", 4, False)
    case = await env.act(case_id, "ready-for-pickup")
    assert (case["status"], case["pickup_by"], case["pickup_item"]) == ("ready_for_pickup", "2026-05-27", "退休证")
    case = await env.act(case_id, "picked-up")
    assert case["status"] == "picked_up"
    await env.act(case_id, "picked-up", expect=409)

    events = await env.events(expect=7)
    types = [e.type for e in events]
    assert types == ["matters.case.accepted", "matters.case.step_completed", "matters.case.step_completed",
                     "matters.case.step_completed", "matters.case.completed", "matters.case.ready_for_pickup",
                     "matters.case.picked_up"]
    accepted = events[0].data
    assert accepted["kind"] == "promised" and accepted["time_limit_days"] == 10 and accepted["window_no"] == 1
    assert accepted["due_at"].startswith("2026-03-05T23:59:59")
    assert [e.data["step"] for e in events[1:4]] == ["accept", "review", "recheck"]
    assert events[1].data["department"] == "企业养老保险科"
    assert events[4].data == {"case_id": case_id, "result": "approved", "working_days_used": 4, "overdue": False,
                              "department": "企业养老保险科", "kind": "promised"}
    assert (accepted["department"], events[5].data["item"], events[5].data["place"]) == (
        "企业养老保险科", "退休证", "测试大厅")
    assert events[5].data["pickup_by"] == "2026-05-27"


async def test_missing_materials_give_one_complete_notice_and_accept_nothing(env: MattersEnv) -> None:
    """Missing materials: 422 listing all at once, a masked 一次性告知单 and SMS, a case that cannot advance."""
    provided = [m for m in required_materials("yl-txsq") if m not in ("archive", "photo")]
    r = await env.client.post(f"{PREFIX}/cases", headers=env.auth(), json={
        "matter_id": "yl-txsq", "applicant": APPLICANTS[1], "provided": provided, "applicable": ["special_job"]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["status"] == "materials_missing" and body["missing"] == ["archive", "photo", "special_job"]
    assert body["notice_url"] == f"{PREFIX}/cases/{body['id']}/notice"
    page = await env.client.get(body["notice_url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for text in ("一次性告知单", "职工本人人事档案", "近期二寸免冠彩色照片", "特殊工种提前退休审批材料", "李**",
                 "4302**********3214", "企业职工退休申请"):
        assert text in page.text
    assert APPLICANTS[1]["name"] not in page.text and APPLICANTS[1]["id_no"] not in page.text
    data = (await env.client.get(f"{PREFIX}/cases/{body['id']}/notice.json")).json()
    assert [m["id"] for m in data["missing"]] == ["archive", "photo", "special_job"]
    assert data["sms"]["params"]["count"] == 3 and "近期二寸免冠彩色照片" in data["sms"]["text"]
    assert APPLICANTS[1]["phone"] not in str(data)

    await env.act(body["id"], "steps", {"step": "review"}, expect=409)
    await env.act(body["id"], "complete", {"result": "approved"}, expect=409)
    events = await env.events(expect=1)
    assert [(e.type, e.data["missing"]) for e in events] == [
        ("matters.case.materials_missing", ["archive", "photo", "special_job"])]


async def test_notice_is_only_for_cases_with_missing_materials(env: MattersEnv) -> None:
    """An accepted case has no 一次性告知单; an unknown case neither."""
    receipt = await env.accept("yl-txsq")
    assert (await env.client.get(f"{PREFIX}/cases/{receipt['id']}/notice")).status_code == 404
    assert (await env.client.get(f"{PREFIX}/cases/0193a7e2-6a1c-7c4e-9f3a-2f1d0c9b8a77/notice")).status_code == 404


async def test_instant_matter_completes_at_the_window(env: MattersEnv) -> None:
    """异地就医备案 (即办件): accepted and completed in one step, no deadline, no back-office steps."""
    receipt = await env.accept("yb-ydjy")
    assert receipt["status"] == "accepted" and receipt["due_at"] is None
    assert receipt["case"]["status"] == "completed" and receipt["case"]["result"] == "approved"
    events = await env.events(expect=3)
    assert [e.type for e in events] == ["matters.case.accepted", "matters.case.step_completed",
                                        "matters.case.completed"]
    assert events[0].data["kind"] == "instant" and events[0].data["due_at"] is None
    assert events[2].data["working_days_used"] == 0


async def test_instant_matter_with_a_card_goes_to_pickup(env: MattersEnv) -> None:
    """社会保障卡补换 (即时制卡): completed at the window, then ready for pickup and picked up."""
    receipt = await env.accept("kk-bhk")
    case = await env.act(receipt["id"], "ready-for-pickup")
    assert case["status"] == "ready_for_pickup" and case["pickup_item"] == "社会保障卡"
    assert (await env.act(receipt["id"], "picked-up"))["status"] == "picked_up"


async def test_suspension_stops_the_clock_and_resumption_moves_the_deadline(env: MattersEnv) -> None:
    """A suspension from 02-27 to 03-04 moves the due date from 03-05 to 03-11; no due date meanwhile."""
    # 10 working days from Fri 02-13 end on 03-05; the clock stops for 02-28 (调休), 03-02, 03-03 and 03-04
    receipt = await env.accept("jy-knrd")
    assert receipt["case"]["due_on"] == "2026-03-05"
    env.clock.set(2026, 2, 27, 16)
    case = await env.act(receipt["id"], "suspend", {"reason_code": "appraisal", "note": "等待残疾等级鉴定"})
    assert case["status"] == "suspended" and case["due_at"] is None and case["card"] is None
    await env.act(receipt["id"], "steps", {"step": "review"}, expect=409)
    await env.act(receipt["id"], "suspend", {"reason_code": "appraisal"}, expect=409)
    env.clock.set(2026, 3, 4, 9)
    case = await env.act(receipt["id"], "resume")
    assert case["status"] == "accepted" and case["due_on"] == "2026-03-11"
    assert [s["reason_code"] for s in case["suspensions"]] == ["appraisal"]
    env.clock.set(2026, 3, 11, 9)
    await env.act(receipt["id"], "steps", {"step": "review"})
    await env.act(receipt["id"], "steps", {"step": "recheck"}, headers=env.auth("s002", 2))
    case = await env.act(receipt["id"], "complete", {"result": "approved"})
    assert case["working_days_used"] == 10 and case["overdue"] is False
    events = await env.events(expect=7)
    assert [e.type.rsplit(".", 1)[1] for e in events] == [
        "accepted", "step_completed", "suspended", "resumed", "step_completed", "step_completed", "completed"]
    assert events[2].data == {"case_id": receipt["id"], "reason_code": "appraisal"}
    assert "等待残疾等级鉴定" not in str([e.data for e in events])


async def test_rejection_can_come_before_the_last_step(env: MattersEnv) -> None:
    """A case rejected after 后台审核 is completed as rejected and has nothing to pick up."""
    receipt = await env.accept("yl-txsq")
    await env.act(receipt["id"], "steps", {"step": "review"})
    await env.act(receipt["id"], "complete", {"result": "approved"}, expect=409)
    case = await env.act(receipt["id"], "complete", {"result": "rejected"})
    assert case["result"] == "rejected"
    await env.act(receipt["id"], "ready-for-pickup", expect=409)


async def test_working_days_api_across_the_spring_festival_and_into_2027(env: MattersEnv) -> None:
    """GET /working-days counts 调休 in 2026 and says when 2027 was counted provisionally (statutory days only)."""
    r = await env.client.get(f"{PREFIX}/working-days", params={"start": "2026-02-13", "days": 5})
    assert r.json() == {"start": "2026-02-13", "days": 5, "due": "2026-02-27", "warnings": []}
    r = await env.client.get(f"{PREFIX}/working-days", params={"start": "2026-09-30", "days": 3})
    assert r.json()["due"] == "2026-10-10"
    with capture_logs() as logs:
        r = await env.client.get(f"{PREFIX}/working-days", params={"start": "2026-12-30", "days": 5})
    assert r.json()["due"] == "2027-01-07" and "2027" in r.json()["warnings"][0]  # 元旦 (Fri 01-01) is off
    assert any(x["event"] == "calendar_year_unknown" and x["year"] == 2027 and x["log_level"] == "warning"
               for x in logs)
    bads: list[dict[str, Any]] = [{"start": "2026-02-30", "days": 5}, {"start": "2026-02-13", "days": -1},
                                  {"start": "2026-02-13"}]
    for bad in bads:
        assert (await env.client.get(f"{PREFIX}/working-days", params=bad)).status_code == 422


async def test_calendar_override_fills_in_2027_and_moves_open_cases(env: MattersEnv) -> None:
    """A manager marks Mon 2027-01-04 a local holiday: the API counts it, and an open case due after it moves."""
    env.clock.set(2026, 12, 30, 10)
    receipt = await env.accept("yl-txsq")
    assert receipt["case"]["due_on"] == "2027-01-14"  # 12-31, then 2027 provisional: 元旦 off, 01-04 … 01-14
    assert "2027" in receipt["case"]["calendar_warnings"][0]
    r = await env.client.put(f"{PREFIX}/calendar/overrides/2027-01-04", headers=env.auth(),
                             json={"workday": False, "note": "本地假日"})
    assert r.status_code == 403
    r = await env.client.put(f"{PREFIX}/calendar/overrides/2027-01-04", headers=env.manager,
                             json={"workday": False, "note": "本地假日"})
    assert r.status_code == 200 and r.json()["cases_moved"] == 1
    r = await env.client.get(f"{PREFIX}/working-days", params={"start": "2026-12-30", "days": 5})
    assert r.json()["due"] == "2027-01-08"
    case = (await env.client.get(f"{PREFIX}/cases/{receipt['id']}", headers=env.auth())).json()
    assert case["due_on"] == "2027-01-15" and case["due_at"] == "2027-01-15T23:59:59.000+08:00"
    overrides = (await env.client.get(f"{PREFIX}/calendar/overrides", params={"year": 2027})).json()
    assert [(o["day"], o["workday"], o["note"]) for o in overrides] == [("2027-01-04", False, "本地假日")]
    r = await env.client.delete(f"{PREFIX}/calendar/overrides/2027-01-04", headers=env.manager)
    assert r.json()["cases_moved"] == 1


async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(env: MattersEnv) -> None:
    """Each kind of bad input gets a 4xx with a message, and no row or event is written."""
    receipt = await env.accept("yl-txsq")
    before = await env.counts()
    good = {"matter_id": "yl-txsq", "applicant": APPLICANTS[0], "provided": required_materials("yl-txsq")}
    bad_id = {**APPLICANTS[0], "id_no": "430102199001011234"}
    attempts = [
        ("post", "/cases", {**good, "matter_id": "xx-none"}, env.auth(), 404),
        ("post", "/cases", {**good, "applicant": bad_id}, env.auth(), 422),
        ("post", "/cases", {**good, "applicant": {**APPLICANTS[0], "phone": "12345"}}, env.auth(), 422),
        ("post", "/cases", {**good, "provided": [*good["provided"], "passport"]}, env.auth(), 422),
        ("post", "/cases", {**good, "colour": "red"}, env.auth(), 422),
        ("post", "/cases", {**good, "applicant": {"name": "张三"}}, env.auth(), 422),
        ("post", "/cases", good, {}, 401),
        ("post", "/cases", good, {"Authorization": "Bearer forged.token"}, 401),
        ("post", f"/cases/{receipt['id']}/steps", {"step": "recheck"}, env.auth(), 409),
        ("post", f"/cases/{receipt['id']}/steps", {"step": "sign"}, env.auth(), 409),
        ("post", f"/cases/{receipt['id']}/suspend", {"reason_code": "lunch"}, env.auth(), 422),
        ("post", f"/cases/{receipt['id']}/complete", {"result": "maybe"}, env.auth(), 422),
        ("post", f"/cases/{receipt['id']}/resume", None, env.auth(), 409),
        ("post", "/cases/not-a-uuid/resume", None, env.auth(), 422),
        ("post", "/cases/0193a7e2-6a1c-7c4e-9f3a-2f1d0c9b8a77/resume", None, env.auth(), 404),
        ("put", "/matters/yl-txsq/site-change", {"enabled": False}, env.auth(), 403),
        ("put", "/matters/yl-txsq/site-change", {"promised_days": 25}, env.manager, 422),
        ("put", "/matters/xx-none/site-change", {"enabled": False}, env.manager, 404),
        ("delete", "/calendar/overrides/2027-01-04", None, env.manager, 404),
    ]
    for method, path, body, headers, status in attempts:
        r = await env.client.request(method, PREFIX + path, json=body, headers=headers)
        assert r.status_code == status, (path, body, r.text)
        assert r.json()["message"], r.text
        assert APPLICANTS[0]["id_no"] not in r.text and "430102199001011234" not in r.text
    # a domain error's JSON ``error`` is its class name; a change the catalog refuses is ``unprocessable``
    coded = [("post", "/cases", {**good, "applicant": bad_id}, env.auth(), "InvalidApplicant"),
             ("post", "/cases", {**good, "provided": [*good["provided"], "passport"]}, env.auth(), "UnknownMaterial"),
             ("post", f"/cases/{receipt['id']}/steps", {"step": "recheck"}, env.auth(), "StepOutOfOrder"),
             ("post", f"/cases/{receipt['id']}/resume", None, env.auth(), "CaseNotInState"),
             ("put", "/matters/yl-txsq/site-change", {"promised_days": 25}, env.manager, "unprocessable")]
    for method, path, body, headers, code in coded:
        r = await env.client.request(method, PREFIX + path, json=body, headers=headers)
        assert r.json()["error"] == code, (path, r.text)
    assert await env.counts() == before


async def test_catalog_api_shows_the_site_view_and_a_manager_changes_it(env: MattersEnv) -> None:
    """GET /matters has the contract fields; a manager disables, re-routes and shortens matters, then resets."""
    matters = (await env.client.get(f"{PREFIX}/matters")).json()
    assert {m["id"] for m in matters} == {"yl-txsq", "yb-ydjy", "sy-jtsl", "kk-bhk", "gs-rdsq", "jy-knrd", "kk-sl"}
    txsq = next(m for m in matters if m["id"] == "yl-txsq")
    assert {"id", "name", "category", "kind", "promised_days", "queue_id", "materials"} <= set(txsq)
    assert txsq["queue"] == "A" and txsq["kind"] == "promised" and txsq["promised_days"] == 10
    assert {"id": "archive", "name": "职工本人人事档案", "required": True}.items() <= txsq["materials"][1].items()
    assert len((await env.client.get(f"{PREFIX}/matters", params={"all": "true"})).json()) >= 40

    r = await env.client.put(f"{PREFIX}/matters/yl-txsq/site-change", headers=env.manager, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    await env.accept("yl-txsq", expect=404)
    r = await env.client.put(f"{PREFIX}/matters/yb-ydjy/site-change", headers=env.manager, json={"queue": "C"})
    assert r.json()["queue"] == "C" and r.json()["changed_by_site"] == ["enabled", "queue"]
    r = await env.client.put(f"{PREFIX}/matters/gs-rdsq/site-change", headers=env.manager,
                             json={"promised_days": 20})
    assert r.json()["promised_days"] == 20
    assert (await env.accept("gs-rdsq", applicable=[]))["case"]["time_limit_days"] == 20
    r = await env.client.delete(f"{PREFIX}/matters/yl-txsq/site-change", headers=env.manager)
    assert r.json()["enabled"] is True
    await env.accept("yl-txsq")


async def test_case_lists_are_masked_and_filterable(env: MattersEnv) -> None:
    """GET /cases needs a clerk token, shows masked applicants, filters by status and by owner (首问负责)."""
    await env.accept("yl-txsq")
    await env.accept("yb-ydjy", applicant=APPLICANTS[2])
    assert (await env.client.get(f"{PREFIX}/cases")).status_code == 401
    running = (await env.client.get(f"{PREFIX}/cases", params={"status": "accepted"}, headers=env.auth())).json()
    assert [c["matter_id"] for c in running] == ["yl-txsq"]
    everything = (await env.client.get(f"{PREFIX}/cases", params={"mine": "true"}, headers=env.auth())).json()
    assert {c["applicant"]["name"] for c in everything} == {"张**", "欧***"}
    other = (await env.client.get(f"{PREFIX}/cases", params={"mine": "true"}, headers=env.auth("s002", 2))).json()
    assert other == []


async def test_the_service_refuses_to_start_on_a_site_file_naming_an_unknown_matter(
        servers: Servers, site: str, database_url: str, tmp_path: Path) -> None:
    """The real service exits with 2 and names the entry when its site file routes an unknown matter."""
    cfg = matters_site_config(site)
    cfg["matters"].append({"matter_id": "yl-nope", "name": "不存在的事项", "queue": "A"})
    seed = tmp_path / "bad-site.json"
    seed.write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    log = tmp_path / "matters.log"
    proc = start_matters_process(matters_settings(site, database_url, servers.nats_url, seed), free_port(), log)
    assert await asyncio.to_thread(proc.wait, 30) == 2
    line = next(json.loads(x) for x in log.read_text(encoding="utf-8").splitlines() if "catalog_invalid" in x)
    assert "bad-site.json" in line["error"] and "'yl-nope' is not in the catalog" in line["error"]
