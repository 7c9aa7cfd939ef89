"""The requests that broke services before (a third-party fuzzer's 500s, issue 18), replayed against the real stack:
each is now refused with a clear 4xx and a message, and nothing bad is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fuzz.conftest import Stack

NUL = "a\u0000b"


def _call(stack: Stack, service: str, method: str, path: str, *, token: str | None = None,
          **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, f"{stack.base(service)}/{service}/api/v1{path}", headers=headers, timeout=10, **kw)


def _refused(r: httpx.Response, *statuses: int) -> None:
    assert r.status_code in (statuses or (400, 422)), f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    body = r.json()
    assert body["error"] and body["message"], body


@pytest.mark.parametrize("changes", [{"sms_window_min": 2_000_000_000}, {"start_grace_min": 7.4e23},
                                     {"offline_after_s": 10**12}, {"empty_window_min": -1}])
def test_a_threshold_beyond_what_a_hall_accepts_is_refused_before_it_is_stored(
        stack: Stack, changes: dict[str, Any]) -> None:
    """A supervisor's threshold out of range answers 422, is not saved, and central's health stays ok."""
    sup = stack.token("central")
    before = _call(stack, "central", "GET", "/thresholds", token=sup).json()
    _refused(_call(stack, "central", "PUT", "/thresholds", token=sup, json=changes), 422)
    after = _call(stack, "central", "GET", "/thresholds", token=sup).json()
    assert {k: after[k] for k in changes} == {k: before[k] for k in changes}
    assert _call(stack, "central", "GET", "/health").json()["status"] == "ok"


@pytest.mark.parametrize(("service", "method", "path", "body", "who"), [
    ("queue", "POST", "/tickets", {"matter_id": NUL}, None),
    ("queue", "POST", "/windows/1/sign-in", {"staff_id": NUL, "password": "x"}, None),
    ("queue", "POST", "/manager/sign-in", {"staff_id": NUL, "password": "x"}, None),
    ("queue", "POST", "/staff", {"staff_id": "zz-nul", "name": NUL, "password": "secret-1"}, "manager"),
    ("matters", "POST", "/cases", {"matter_id": "yl-txsq", "applicant": {"name": NUL, "id_no": "0"},
                                   "provided": []}, "clerk"),
])
def test_a_nul_character_in_a_body_is_refused(stack: Stack, service: str, method: str, path: str,
                                              body: dict[str, Any], who: str | None) -> None:
    """Text with a NUL (or another control character) in a request body answers 422, never a database error."""
    token = {"manager": stack.token("queue"), "clerk": stack.clerk_token, None: None}[who]
    _refused(_call(stack, service, method, path, token=token, json=body), 422)


@pytest.mark.parametrize(("service", "path", "who"), [
    ("central", "/alerts?site=a%00", "central"),
    ("ratings", "/complaints?status=a%00", "queue"),
    ("notify", "/messages?ref_id=a%00", "queue"),
    ("matters", "/cases?matter_id=a%00", "queue"),
    ("queue", "/tickets/a%00b", None),
])
def test_a_nul_character_in_the_url_is_refused(stack: Stack, service: str, path: str, who: str | None) -> None:
    """A control character in a path or query parameter answers 400, with or without a token."""
    _refused(_call(stack, service, "GET", path, token=stack.token(who) if who else None), 400)


@pytest.mark.parametrize(("service", "method", "path", "who"), [
    ("ratings", "GET", "/windows/2147483648/invitation", None),
    ("queue", "GET", "/windows/2147483648/today", "clerk"),
    ("queue", "POST", "/windows/2147483648/end-session", "manager"),
    ("central", "POST", "/alerts/9223372036854775808/ack", "supervisor"),
])
def test_an_integer_beyond_its_column_is_refused(stack: Stack, service: str, method: str, path: str,
                                                 who: str | None) -> None:
    """A window number or an alert id too large for its column answers 4xx, never a database error."""
    token = {"clerk": stack.clerk_token, "manager": stack.token("queue"), "supervisor": stack.token("central"),
             None: None}[who]
    r = _call(stack, service, method, path, token=token, json={} if method == "POST" else None)
    _refused(r, 400, 403, 404, 422)


def test_a_boolean_must_be_a_boolean(stack: Stack) -> None:
    """``"active": 0`` is not taken as false: a staff member is deactivated only by ``false``."""
    manager = stack.token("queue")
    staff = _call(stack, "queue", "GET", "/staff", token=manager).json()
    clerk = next(s for s in staff if not s.get("manager") and s["active"])
    _refused(_call(stack, "queue", "PATCH", f"/staff/{clerk['staff_id']}", token=manager, json={"active": 0}), 422)
    again = next(s for s in _call(stack, "queue", "GET", "/staff", token=manager).json()
                 if s["staff_id"] == clerk["staff_id"])
    assert again["active"] is True


def test_a_calendar_override_outside_a_sane_range_is_refused(stack: Stack) -> None:
    """A calendar override for 1970 (or year 9999) is refused; the override table is unchanged."""
    manager = stack.token("queue")
    for day in ("1970-01-01", "9999-12-31"):
        _refused(_call(stack, "matters", "PUT", f"/calendar/overrides/{day}", token=manager,
                       json={"workday": True, "note": "x"}), 422)
    listed = _call(stack, "matters", "GET", "/calendar/overrides?year=1970", token=manager)
    assert listed.status_code in (200, 422) and (listed.status_code == 422 or listed.json() == [])


@pytest.mark.parametrize("service", ["queue", "matters", "ratings", "notify", "central"])
def test_dead_letters_are_for_operations_only(stack: Stack, service: str) -> None:
    """Every service's dead letters need the site's duty manager (or central's supervisor): 401 without a token."""
    _refused(_call(stack, service, "GET", "/dead-letters"), 401)
    assert _call(stack, service, "GET", "/dead-letters", token=stack.token(service)).status_code == 200
