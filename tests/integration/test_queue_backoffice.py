"""Back-office staff (后台/科室) sign in bound to no window, with a token for their department; the duty manager
gives staff a department, moves them, or deactivates them, and their back-office sessions end at once."""

from __future__ import annotations

from services.queue.seed import SiteCfg, apply_site_config
from shared.auth import verify_token
from tests.integration.conftest import BACKOFFICE_DEPT, PASSWORD, QueueEnv, site_config

API = "/queue/api/v1"


async def _sign_in(env: QueueEnv, staff_id: str = "b001", password: str = PASSWORD) -> dict[str, str]:
    r = await env.client.post(f"{API}/staff/sign-in", json={"staff_id": staff_id, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def _manager(env: QueueEnv) -> dict[str, str]:
    r = await env.client.post(f"{API}/manager/sign-in", json={"staff_id": "m001", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_a_backoffice_clerk_gets_a_token_of_their_department_bound_to_no_window(queue_env: QueueEnv) -> None:
    """b001 signs in to the back office: the answer and the token say role backoffice, window 0, 企业养老保险科."""
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b001", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["role"], body["department"], body["staff_id"]) == ("backoffice", BACKOFFICE_DEPT, "b001")
    assert body["expires_in_s"] > 3600
    claims = verify_token(queue_env.settings.token_secret, body["token"], site=queue_env.settings.site)
    assert (claims.role, claims.window_no, claims.department) == ("backoffice", 0, BACKOFFICE_DEPT)
    me = await queue_env.client.get(f"{API}/staff/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["department"] == BACKOFFICE_DEPT and me.json()["name"] == "后台审核员"


async def test_wrong_passwords_and_staff_without_a_department_are_refused_clearly(queue_env: QueueEnv) -> None:
    """A wrong password or unknown staff id is 401; a window clerk or the duty manager without a department gets
    403 saying they are not back-office staff; a back-office token opens neither a window nor the manager's calls."""
    for staff_id, password in (("b001", "wrong-pw"), ("nobody", PASSWORD)):
        r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": staff_id, "password": password})
        assert r.status_code == 401 and r.json()["message"].startswith("工号或密码错误"), r.text
    for staff_id in ("s001", "m001"):
        r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": staff_id, "password": PASSWORD})
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "NotBackOffice" and "不是后台科室人员" in r.json()["message"]
    bo = await _sign_in(queue_env)
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=bo)).status_code == 403
    assert (await queue_env.client.get(f"{API}/staff", headers=bo)).status_code == 403
    clerk = await queue_env.sign_in(1)
    assert (await queue_env.client.get(f"{API}/staff/me", headers=clerk)).status_code == 403
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b001"})
    assert r.status_code == 422 and r.json()["message"]


async def test_the_manager_gives_moves_and_removes_a_department(queue_env: QueueEnv) -> None:
    """A new staff member with a department signs in to its back office; moved to another department, the old
    token is dead and a new sign-in names the new one; taken out of the back office, sign-in is 403."""
    m = await _manager(queue_env)
    r = await queue_env.client.post(f"{API}/staff", headers=m, json={
        "staff_id": "b900", "name": "工伤审核", "password": "secret-900", "backoffice": "工伤保险科"})
    assert r.status_code == 201 and r.json()["backoffice"] == "工伤保险科", r.text
    old = await _sign_in(queue_env, "b900", "secret-900")
    listed = {s["staff_id"]: s for s in (await queue_env.client.get(f"{API}/staff", headers=m)).json()}
    assert listed["b900"]["backoffice"] == "工伤保险科" and listed["s001"]["backoffice"] is None

    r = await queue_env.client.patch(f"{API}/staff/b900", headers=m, json={"name": "工伤复核"})
    assert r.status_code == 200 and r.json()["backoffice"] == "工伤保险科"  # absent: the department stays
    assert (await queue_env.client.get(f"{API}/staff/me", headers=old)).status_code == 200
    r = await queue_env.client.patch(f"{API}/staff/b900", headers=m, json={"backoffice": "失业保险科"})
    assert r.status_code == 200 and r.json()["backoffice"] == "失业保险科"
    refused = await queue_env.client.get(f"{API}/staff/me", headers=old)
    assert refused.status_code == 401 and "sign in again" in refused.json()["message"]
    [ended] = await queue_env.events(expect=1, types=("queue.session.ended",))
    assert (ended.data["staff_id"], ended.data["role"], ended.data["reason"]) == ("b900", "backoffice",
                                                                                   "ended_by_manager")
    new = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b900", "password": "secret-900"})
    assert new.json()["department"] == "失业保险科"

    r = await queue_env.client.patch(f"{API}/staff/b900", headers=m, json={"backoffice": None})
    assert r.status_code == 200 and r.json()["backoffice"] is None
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b900", "password": "secret-900"})
    assert r.status_code == 403
    r = await queue_env.client.patch(f"{API}/staff/b900", headers=m, json={"backoffice": "x"})
    assert r.status_code == 422 and r.json()["message"]


async def test_signing_out_ends_the_backoffice_session(queue_env: QueueEnv) -> None:
    """After sign-out the token gets 401 at once and the site hears the session ended; another device stays."""
    token = await _sign_in(queue_env)
    other = await _sign_in(queue_env)
    r = await queue_env.client.post(f"{API}/staff/sign-out", headers=token)
    assert r.status_code == 200 and r.json()["session_ended"] is True
    assert (await queue_env.client.get(f"{API}/staff/me", headers=token)).status_code == 401
    assert (await queue_env.client.post(f"{API}/staff/sign-out", headers=token)).status_code == 401
    assert (await queue_env.client.get(f"{API}/staff/me", headers=other)).status_code == 200
    sid = verify_token(queue_env.settings.token_secret, token["Authorization"][7:],
                       site=queue_env.settings.site).session_id
    [ended] = await queue_env.events(expect=1, types=("queue.session.ended",))
    assert ended.data == {"session_id": str(sid), "staff_id": "b001", "role": "backoffice", "reason": "signed_out"}


async def test_deactivating_a_backoffice_clerk_ends_every_session(queue_env: QueueEnv) -> None:
    """A deactivated back-office clerk's tokens (two devices) are refused at once and they cannot sign in again."""
    m = await _manager(queue_env)
    desk, phone = await _sign_in(queue_env), await _sign_in(queue_env)
    r = await queue_env.client.patch(f"{API}/staff/b001", headers=m, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    for h in (desk, phone):
        assert (await queue_env.client.get(f"{API}/staff/me", headers=h)).status_code == 401
    ended = await queue_env.events(expect=2, types=("queue.session.ended",))
    assert sorted((e.data["staff_id"], e.data["role"], e.data["reason"]) for e in ended) == \
        [("b001", "backoffice", "deactivated")] * 2
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b001", "password": PASSWORD})
    assert r.status_code == 401


async def test_the_site_file_moving_a_clerk_to_another_department_ends_their_session(queue_env: QueueEnv) -> None:
    """Reloading a site file that names another department for b001 refuses b001's old token and tells the site."""
    token = await _sign_in(queue_env)
    cfg = site_config(queue_env.settings.site, 4)
    for person in cfg["staff"]:
        if person["staff_id"] == "b001":
            person["backoffice"] = "医疗保险科"
    async with queue_env.app.pool.acquire() as conn:
        await apply_site_config(conn, SiteCfg.model_validate(cfg))
        await apply_site_config(conn, SiteCfg.model_validate(cfg))  # again: nothing more to end
    assert (await queue_env.client.get(f"{API}/staff/me", headers=token)).status_code == 401
    [ended] = await queue_env.events(expect=1, types=("queue.session.ended",))
    assert (ended.data["staff_id"], ended.data["role"], ended.data["reason"]) == ("b001", "backoffice",
                                                                                   "ended_by_manager")
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b001", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["department"] == "医疗保险科"
