"""The shipped demo site configurations (hallnet/demo_sites/*.json)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hallnet import demo
from hallnet.stack import demo_accounts
from services.matters.catalog import load_catalog

SITE_FILES = sorted(demo.DEMO_DIR.glob("*.json"))


def _load(site: str) -> dict[str, Any]:
    return json.loads((demo.DEMO_DIR / f"{site}.json").read_text(encoding="utf-8"))


def _by_hall(config: dict[str, Any]) -> Counter[str]:
    return Counter(w["hall"] for w in config["windows"])


def test_every_demo_site_is_shipped() -> None:
    """One JSON file per demo site, named after the site id it contains."""
    assert [p.stem for p in SITE_FILES] == sorted(demo.SITE_IDS)
    for p in SITE_FILES:
        assert json.loads(p.read_text(encoding="utf-8"))["site"] == p.stem


def test_zhuzhou_halls_have_the_window_counts_of_the_seed() -> None:
    """株洲: 养老保险 13, 医疗生育保险 15, 综合服务厅 17 (就业创业 5, 工伤 6, 失业 6)."""
    config = _load("zhuzhou")
    assert config["name"] == "株洲市人社局便民服务大厅"
    assert _by_hall(config) == {"养老保险服务厅": 13, "医疗生育保险服务厅": 15, "综合服务厅": 17}
    names = {q["prefix"]: q["name"] for q in config["queues"]}
    first_choice = Counter(names[w["queues"][0]] for w in config["windows"] if w["hall"] == "综合服务厅")
    assert first_choice["就业服务"] + first_choice["创业服务"] == 5
    assert first_choice["工伤保险"] == 6
    assert first_choice["失业保险"] == 6


def test_hengnan_and_baogai_sizes() -> None:
    """衡南: 31 windows and 33 clerks; 宝盖镇 station: 2 windows; each hall has one duty manager (值班长)."""
    hengnan, baogai = _load("hengnan"), _load("baogai")
    clerks = [s for s in hengnan["staff"] if s["roles"]]
    assert (hengnan["name"], len(hengnan["windows"]), len(clerks)) == ("衡南县人社局便民服务大厅", 31, 33)
    assert (baogai["name"], len(baogai["windows"])) == ("宝盖镇劳动保障服务站", 2)
    for site in (hengnan, baogai, _load("zhuzhou")):
        managers = [s for s in site["staff"] if s.get("manager")]
        assert len(managers) == 1 and managers[0]["roles"] == []


@pytest.mark.parametrize("path", SITE_FILES, ids=lambda p: p.stem)
def test_queues_windows_and_matters_are_consistent(path: Path) -> None:
    """Prefixes are 1–2 capitals and unique; every window serves known queues; every queue is served;
    every matter routes to an existing queue; window numbers and matter ids are unique."""
    config = json.loads(path.read_text(encoding="utf-8"))
    prefixes = [q["prefix"] for q in config["queues"]]
    assert all(re.fullmatch(r"[A-Z]{1,2}", p) for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)
    served: set[str] = set()
    for w in config["windows"]:
        assert w["queues"], f"window {w['no']} serves nothing"
        assert len(set(w["queues"])) == len(w["queues"])
        assert set(w["queues"]) <= set(prefixes)
        served.update(w["queues"])
    assert served == set(prefixes)
    nos = [w["no"] for w in config["windows"]]
    assert nos == list(range(1, len(nos) + 1))
    ids = [m["matter_id"] for m in config["matters"]]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z][a-z0-9-]{1,15}", i) for i in ids)
    assert {m["queue"] for m in config["matters"]} == set(prefixes)
    assert all(m["service_s"] > 0 for m in config["matters"])


@pytest.mark.parametrize("path", SITE_FILES, ids=lambda p: p.stem)
def test_every_window_has_an_a_and_a_b_clerk(path: Path) -> None:
    """AB角: each window has exactly one A clerk and at least one other B clerk; staff ≥ windows;
    staff ids are site letters + 4 digits and unique; roles name existing windows."""
    config = json.loads(path.read_text(encoding="utf-8"))
    nos = {w["no"] for w in config["windows"]}
    assert len(config["staff"]) >= len(nos)
    ids = [s["staff_id"] for s in config["staff"]]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]{2}\d{4}", i) for i in ids)
    a_clerks: dict[int, list[str]] = {n: [] for n in nos}
    b_clerks: dict[int, list[str]] = {n: [] for n in nos}
    for s in config["staff"]:
        assert s["name"] and s["password"]
        for no, role in s["roles"]:
            assert no in nos and role in ("A", "B")
            (a_clerks if role == "A" else b_clerks)[no].append(s["staff_id"])
    for no in nos:
        assert len(a_clerks[no]) == 1, f"window {no}: A clerks {a_clerks[no]}"
        assert b_clerks[no] and a_clerks[no][0] not in b_clerks[no], f"window {no}: no stand-in"


def test_generator_reproduces_the_shipped_files_byte_for_byte() -> None:
    """``python -m hallnet.demo`` regenerates exactly the checked-in JSON."""
    rendered = demo.render_all()
    assert sorted(rendered) == [p.name for p in SITE_FILES]
    for name, text in rendered.items():
        assert (demo.DEMO_DIR / name).read_bytes() == text.encode("utf-8")
    assert demo.render_all() == rendered


@pytest.mark.parametrize("path", SITE_FILES, ids=lambda p: p.stem)
def test_every_department_of_a_promised_matter_has_a_back_office_clerk(path: Path) -> None:
    """后台: each department (named as in the matters catalog) that processes one of the site's promised matters
    has two back-office clerks (复核 is not the 审核's), at no window, not managers, with demo passwords; no other
    departments."""
    config = json.loads(path.read_text(encoding="utf-8"))
    enabled = {m["matter_id"] for m in config["matters"]}
    wanted = {dept for spec in load_catalog() if spec.id in enabled and spec.kind.value == "promised"
              for dept in (spec.department, *(st.department for st in spec.back_office_steps))}
    back = [s for s in config["staff"] if s.get("backoffice")]
    assert Counter(s["backoffice"] for s in back) == {dept: 2 for dept in wanted}
    letters = config["staff"][0]["staff_id"][:2]
    for s in back:
        assert re.fullmatch(r"[a-z]{2}8\d{2}[12]", s["staff_id"]) and s["staff_id"][:2] == letters
        assert s["roles"] == [] and not s.get("manager") and s["password"] == f"{s['staff_id']}pw" and s["name"]


@pytest.mark.parametrize("path", SITE_FILES, ids=lambda p: p.stem)
def test_stack_json_lists_the_back_office_staff_of_each_site(path: Path) -> None:
    """`hallnet up` writes sites[].backoffice: [{staff_id, password, department}] for every back-office clerk,
    beside the window clerks (A roles) and the duty managers."""
    config = json.loads(path.read_text(encoding="utf-8"))
    accounts = demo_accounts(config)
    assert accounts["backoffice"] == [{"staff_id": s["staff_id"], "password": s["password"],
                                       "department": s["backoffice"]} for s in config["staff"] if s.get("backoffice")]
    assert accounts["backoffice"] and all(set(b) == {"staff_id", "password", "department"}
                                          for b in accounts["backoffice"])
    assert len(accounts["staff"]) == len(config["windows"]) and len(accounts["managers"]) == 1
