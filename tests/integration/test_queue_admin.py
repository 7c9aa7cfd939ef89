"""The hall manager configures staff, AB roles and windows; clerks cannot."""

from __future__ import annotations

from tests.integration.conftest import PASSWORD, QueueEnv

API = "/queue/api/v1"


async def _manager(env: QueueEnv) -> dict[str, str]:
    r = await env.client.post(f"{API}/manager/sign-in", json={"staff_id": "m001", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_only_a_manager_may_configure(queue_env: QueueEnv) -> None:
    """A clerk's token is refused (403) on the manager's calls; a clerk cannot sign in as manager."""
    clerk = await queue_env.sign_in(1)
    assert (await queue_env.client.get(f"{API}/staff", headers=clerk)).status_code == 403
    r = await queue_env.client.post(f"{API}/manager/sign-in", json={"staff_id": "s001", "password": PASSWORD})
    assert r.status_code == 403
    assert (await queue_env.client.get(f"{API}/staff")).status_code == 401


async def test_new_clerk_with_b_role_can_stand_in_at_that_window(queue_env: QueueEnv) -> None:
    """The manager adds a clerk and makes them window 3's B role: they may then sign in there, not elsewhere."""
    m = await _manager(queue_env)
    r = await queue_env.client.post(f"{API}/staff", headers=m,
                                    json={"staff_id": "s900", "name": "新同事", "password": "secret-900"})
    assert r.status_code == 201
    assert (await queue_env.client.post(f"{API}/staff", headers=m, json={
        "staff_id": "s900", "name": "重复", "password": "secret-900"})).status_code == 409
    r = await queue_env.client.put(f"{API}/windows/3/roles", headers=m, json={"a": "s003", "b": ["s900"]})
    assert r.status_code == 200
    ok = await queue_env.client.post(f"{API}/windows/3/sign-in", json={"staff_id": "s900", "password": "secret-900"})
    assert ok.status_code == 200 and ok.json()["role"] == "B"
    no = await queue_env.client.post(f"{API}/windows/1/sign-in", json={"staff_id": "s900", "password": "secret-900"})
    assert no.status_code == 403
    staff = {s["staff_id"]: s for s in (await queue_env.client.get(f"{API}/staff", headers=m)).json()}
    assert staff["s900"]["roles"] == [[3, "B"]] and "password" not in str(staff["s900"])


async def test_roles_and_windows_are_validated(queue_env: QueueEnv) -> None:
    """Same person as A and B, unknown staff, unknown queues and unknown windows get a clear 4xx."""
    m = await _manager(queue_env)
    cases = [
        ("put", f"{API}/windows/1/roles", {"a": "s001", "b": ["s001"]}, 422),
        ("put", f"{API}/windows/1/roles", {"a": "s001", "b": ["nobody"]}, 422),
        ("put", f"{API}/windows/99/roles", {"a": "s001", "b": ["s002"]}, 404),
        ("patch", f"{API}/windows/1", {"queues": ["Z"]}, 422),
        ("patch", f"{API}/windows/1", {"queues": ["A", "A"]}, 422),
        ("post", f"{API}/staff", {"staff_id": "x", "name": "", "password": "1"}, 422),
    ]
    for method, url, body, status in cases:
        r = await getattr(queue_env.client, method)(url, headers=m, json=body)
        assert r.status_code == status, (url, body, r.text)
        assert r.json()["message"]


async def test_changing_a_windows_queues_changes_what_it_calls(queue_env: QueueEnv) -> None:
    """Window 1 switched to serve only queue B calls B's ticket although an A ticket is older."""
    await queue_env.issue("yl-txsq")
    b = await queue_env.issue("yb-ydjy")
    m = await _manager(queue_env)
    r = await queue_env.client.patch(f"{API}/windows/1", headers=m, json={"queues": ["B"]})
    assert r.status_code == 200 and r.json()["queues"] == ["B"]
    h = await queue_env.sign_in(1)
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h)).json()["id"] == b["id"]
