"""Signing out ends a session everywhere: the queue refuses the token at once, and every other service of the
site refuses it as soon as the queue's ``queue.session.ended`` event reaches it over NATS."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from shared.auth import ClerkClaims, issue_token, verify_token
from shared.bus import Bus
from shared.events.base import Envelope
from shared.events.queue import SessionEnded
from shared.sessions import EndedSessions
from tests.harness import Servers
from tests.integration.conftest import PASSWORD, QueueEnv
from tests.integration.matters_fixtures import own_database
from tests.integration.ratings_fixtures import PREFIX, start_ratings

API = "/queue/api/v1"


async def _manager(env: QueueEnv, staff_id: str = "m001", password: str = PASSWORD) -> tuple[dict[str, str], str]:
    r = await env.client.post(f"{API}/manager/sign-in", json={"staff_id": staff_id, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}, r.json()["token"]


async def _ended(env: QueueEnv, expect: int) -> list[Envelope]:
    return await env.events(expect=expect, types=("queue.session.ended",))


async def test_a_manager_who_signs_out_is_refused_at_once(queue_env: QueueEnv) -> None:
    """After sign-out the manager's token gets 401 with a message, and the site hears which session ended."""
    m, token = await _manager(queue_env)
    assert (await queue_env.client.get(f"{API}/staff", headers=m)).status_code == 200
    r = await queue_env.client.post(f"{API}/manager/sign-out", headers=m)
    assert r.status_code == 200 and r.json()["session_ended"] is True
    refused = await queue_env.client.get(f"{API}/staff", headers=m)
    assert refused.status_code == 401 and "sign in again" in refused.json()["message"]
    sid = verify_token(queue_env.settings.token_secret, token, site=queue_env.settings.site).session_id
    [env] = await _ended(queue_env, 1)
    assert env.data == {"session_id": str(sid), "staff_id": "m001", "role": "manager", "reason": "signed_out"}
    again, _ = await _manager(queue_env)  # signing in again works
    assert (await queue_env.client.get(f"{API}/staff", headers=again)).status_code == 200


async def test_deactivating_a_manager_ends_all_their_sessions(queue_env: QueueEnv) -> None:
    """A deactivated duty manager's tokens (two devices) are refused at once; they cannot sign in again."""
    m, _ = await _manager(queue_env)
    r = await queue_env.client.post(f"{API}/staff", headers=m, json={
        "staff_id": "m002", "name": "副值班长", "password": "secret-m002", "manager": True})
    assert r.status_code == 201, r.text
    phone, _ = await _manager(queue_env, "m002", "secret-m002")
    desk, _ = await _manager(queue_env, "m002", "secret-m002")
    assert (await queue_env.client.get(f"{API}/staff", headers=desk)).status_code == 200
    r = await queue_env.client.patch(f"{API}/staff/m002", headers=m, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    for h in (phone, desk):
        assert (await queue_env.client.get(f"{API}/staff", headers=h)).status_code == 401
    assert (await queue_env.client.get(f"{API}/staff", headers=m)).status_code == 200  # the other manager stays
    ended = await _ended(queue_env, 2)
    assert sorted((e.data["staff_id"], e.data["reason"]) for e in ended) == [("m002", "deactivated")] * 2
    r = await queue_env.client.post(f"{API}/manager/sign-in", json={"staff_id": "m002", "password": "secret-m002"})
    assert r.status_code == 401


async def test_a_window_sign_out_and_a_second_sign_in_end_the_earlier_sessions(queue_env: QueueEnv) -> None:
    """Signing in at the same window again ends the first token's session; signing out ends the second's."""
    site, secret = queue_env.settings.site, queue_env.settings.token_secret
    first = await queue_env.sign_in(1)
    second = await queue_env.sign_in(1)  # the clerk's other device
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=first)).status_code == 401
    r = await queue_env.client.post(f"{API}/windows/1/sign-out", headers=second)
    assert r.status_code == 200, r.text
    sids = [str(verify_token(secret, h["Authorization"][7:], site=site).session_id) for h in (first, second)]
    ended = await _ended(queue_env, 2)
    assert [(e.data["session_id"], e.data["reason"]) for e in ended] == [(sids[0], "replaced"),
                                                                          (sids[1], "signed_out")]
    assert all(e.data["staff_id"] == "s001" and e.data["role"] == "A" for e in ended)


async def test_another_service_refuses_a_token_once_its_session_ended(servers: Servers, site: str,
                                                                       database_url: str) -> None:
    """The ratings service accepts a clerk token until ``queue.session.ended`` for it arrives over NATS, then
    answers 401; a token of another session of the same clerk still works."""
    async with start_ratings(servers, site, database_url) as env:
        def token(sid: uuid.UUID) -> dict[str, str]:
            return {"Authorization": "Bearer " + issue_token(env.settings.token_secret, ClerkClaims(
                site=site, staff_id="s001", window_no=1, session_id=sid, expires_at=int(time.time()) + 3600,
                role="A"))}

        ended_sid, other_sid = uuid.uuid4(), uuid.uuid4()
        assert (await env.client.get(f"{PREFIX}/complaints", headers=token(ended_sid))).status_code == 200
        await env.publish(SessionEnded(session_id=ended_sid, staff_id="s001", role="A", reason="signed_out"))
        deadline = asyncio.get_running_loop().time() + 10
        while (status := (await env.client.get(f"{PREFIX}/complaints", headers=token(ended_sid))).status_code) == 200:
            assert asyncio.get_running_loop().time() < deadline, "the ended session is still accepted after 10 s"
            await asyncio.sleep(0.05)
        assert status == 401
        assert (await env.client.get(f"{PREFIX}/complaints", headers=token(other_sid))).status_code == 200


async def test_a_service_started_later_still_knows_sessions_ended_before(servers: Servers, site: str) -> None:
    """A follower started after the event (a restarted service) learns it from the stream's history; a
    malformed event on the subject is skipped, not fatal."""
    bus = Bus(servers.nats_url, name="test-sessions")
    await bus.connect()
    try:
        await bus.ensure_site_streams(site)
        sid = uuid.uuid4()
        await bus.js.publish(f"hall.{site}.queue.session.ended", json.dumps({"not": "an envelope"}).encode())
        await bus.js.publish(f"hall.{site}.queue.session.ended",
                             Envelope(type="queue.session.ended", site=site, data={
                                 "session_id": str(sid), "staff_id": "m001", "role": "manager",
                                 "reason": "deactivated"}).to_bytes())
        ended = EndedSessions()
        follower = asyncio.create_task(ended.follow(bus, site))
        try:
            deadline = asyncio.get_running_loop().time() + 10
            while sid not in ended:
                assert not follower.done(), follower
                assert asyncio.get_running_loop().time() < deadline, "the earlier event was not replayed"
                await asyncio.sleep(0.05)
            assert len(ended) == 1
        finally:
            follower.cancel()
    finally:
        await bus.close()


async def test_a_manager_ends_a_forgotten_window_session_so_the_b_role_can_take_over(queue_env: QueueEnv) -> None:
    """Window 2's A clerk left with a citizen called: the B clerk is refused until the duty manager ends the
    session; then the A clerk's token is dead, the B clerk signs in and calls that same citizen first."""
    first = await queue_env.issue("yb-ydjy")
    later = await queue_env.issue("yb-ydjy")
    a = await queue_env.sign_in(2, "s002")
    called = await queue_env.client.post(f"{API}/windows/2/call-next", headers=a)
    assert called.json()["id"] == first["id"]
    r = await queue_env.client.post(f"{API}/windows/2/sign-in", json={"staff_id": "s001", "password": PASSWORD})
    assert r.status_code == 409  # the window is still the A clerk's

    m, _ = await _manager(queue_env)
    assert (await queue_env.client.post(f"{API}/windows/2/end-session", headers=a)).status_code == 403
    r = await queue_env.client.post(f"{API}/windows/2/end-session", headers=m, json={"reason": "A角离岗未签退"})
    assert r.status_code == 200, r.text
    assert r.json()["staff_id"] == "s002" and r.json()["returned_to_line"] == first["number"]
    assert r.json()["window"]["state"] == "closed"
    assert (await queue_env.client.post(f"{API}/windows/2/call-next", headers=a)).status_code == 401
    again = await queue_env.client.post(f"{API}/windows/2/end-session", headers=m)
    assert again.status_code == 409 and again.json()["message"]

    b = await queue_env.sign_in(2, "s001")  # the B role takes over the window
    assert (await queue_env.client.post(f"{API}/windows/2/call-next", headers=b)).json()["id"] == first["id"]
    [ended] = await _ended(queue_env, 1)
    assert ended.data["staff_id"] == "s002" and ended.data["reason"] == "ended_by_manager" and ended.data["role"] == "A"
    moved = [e for e in await queue_env.events(expect=1, types=("queue.ticket.transferred",))]
    assert moved[0].data["ticket_id"] == first["id"] and moved[0].data["from_window_no"] == 2
    assert (await queue_env.client.get(f"{API}/tickets/{later['id']}")).json()["status"] == "waiting"


async def test_a_backoffice_sign_out_is_refused_by_the_other_services_too(queue_env: QueueEnv, servers: Servers,
                                                                            site: str) -> None:
    """A back-office clerk's token works at the ratings service until the clerk signs out at the queue; the
    queue's event reaches ratings over NATS, which then answers 401."""
    r = await queue_env.client.post(f"{API}/staff/sign-in", json={"staff_id": "b001", "password": PASSWORD})
    assert r.status_code == 200, r.text
    bo = {"Authorization": f"Bearer {r.json()['token']}"}
    async with own_database(servers, f"test_{site}_ratings") as db, start_ratings(servers, site, db) as ratings:
        assert ratings.settings.token_secret == queue_env.settings.token_secret
        before = await ratings.client.get(f"{PREFIX}/complaints", headers=bo)
        assert before.status_code != 401, before.text  # accepted (what it may see is the ratings service's rule)
        assert (await queue_env.client.post(f"{API}/staff/sign-out", headers=bo)).status_code == 200
        deadline = asyncio.get_running_loop().time() + 10
        while (status := (await ratings.client.get(f"{PREFIX}/complaints", headers=bo)).status_code) != 401:
            assert asyncio.get_running_loop().time() < deadline, f"still {status} 10 s after the sign-out"
            await asyncio.sleep(0.05)
