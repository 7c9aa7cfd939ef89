"""Hall rules over HTTP: tokens bound to windows, transfers, recalls and no-shows, pauses, clear errors."""

from __future__ import annotations

import uuid

from tests.integration.conftest import QueueEnv

API = "/queue/api/v1"


async def test_token_is_bound_to_its_window(queue_env: QueueEnv) -> None:
    """A clerk signed into window 1 cannot call for window 2, and after sign-out the token is dead."""
    await queue_env.issue()
    h1 = await queue_env.sign_in(1)
    await queue_env.sign_in(2)
    r = await queue_env.client.post(f"{API}/windows/2/call-next", headers=h1)
    assert r.status_code == 403 and "window 1" in r.json()["message"]
    r = await queue_env.client.post(f"{API}/windows/1/sign-out", headers=h1, json={"confirm": True})
    assert r.status_code == 200 and r.json()["state"] == "closed"  # confirmed: the ticket still waits
    r = await queue_env.client.post(f"{API}/windows/1/call-next", headers=h1)
    assert r.status_code == 401


async def test_sign_in_checks_password_and_ab_roles(queue_env: QueueEnv) -> None:
    """Wrong password is 401; a clerk who is neither A nor B of a window may not sign into it; B may stand in."""
    r = await queue_env.client.post(f"{API}/windows/1/sign-in", json={"staff_id": "s001", "password": "nope"})
    assert r.status_code == 401 and r.json()["message"]
    r = await queue_env.client.post(f"{API}/windows/3/sign-in", json={"staff_id": "s001", "password": "pw-1234"})
    assert r.status_code == 403
    r = await queue_env.client.post(f"{API}/windows/2/sign-in", json={"staff_id": "s001", "password": "pw-1234"})
    assert r.status_code == 200 and r.json()["role"] == "B"


async def test_requests_without_token_or_with_forged_token_are_refused(queue_env: QueueEnv) -> None:
    """No token is 401, a token signed with another secret is 401: never 500."""
    r = await queue_env.client.post(f"{API}/windows/1/call-next")
    assert r.status_code == 401
    r = await queue_env.client.post(f"{API}/windows/1/call-next", headers={"Authorization": "Bearer abc.def"})
    assert r.status_code == 401 and "invalid token" in r.json()["message"]


async def test_bad_input_gets_a_clear_4xx(queue_env: QueueEnv) -> None:
    """Unknown matter, bad priority, malformed ids and JSON all answer 4xx with a message, and issue nothing."""
    cases = [
        ({"matter_id": "no-such"}, 404),
        ({"matter_id": "yl-txsq", "priority": "vip"}, 422),
        ({"queue_id": "not-a-uuid"}, 422),
        ({}, 422),
        ({"matter_id": "yl-txsq", "priority": "green"}, 403),
        ({"matter_id": "yl-txsq", "priority": "appointment"}, 422),
        ({"matter_id": "yl-txsq", "surprise": 1}, 422),
    ]
    for body, status in cases:
        r = await queue_env.client.post(f"{API}/tickets", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["message"]
    r = await queue_env.client.post(f"{API}/tickets", content=b"{not json",
                                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = await queue_env.client.get(f"{API}/tickets/{uuid.uuid4()}")
    assert r.status_code == 404
    r = await queue_env.client.get(f"{API}/tickets/123")
    assert r.status_code == 422
    queues = (await queue_env.client.get(f"{API}/queues")).json()
    assert sum(q["waiting"] for q in queues) == 0


async def test_transfer_keeps_the_citizens_place(queue_env: QueueEnv) -> None:
    """A ticket transferred from queue A to queue B is called before B's tickets that were issued after it."""
    a = await queue_env.issue("yl-txsq")
    later_b = [await queue_env.issue("yb-ydjy") for _ in range(3)]
    h1 = await queue_env.sign_in(1)
    called = (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h1)).json()
    assert called["id"] == a["id"]
    queues = {q["prefix"]: q["id"] for q in (await queue_env.client.get(f"{API}/queues")).json()}
    r = await queue_env.client.post(f"{API}/tickets/{a['id']}/transfer", headers=h1, json={"to_queue_id": queues["B"]})
    assert r.status_code == 200 and r.json()["status"] == "transferred" and r.json()["ahead"] == 0
    h2 = await queue_env.sign_in(2)  # window 2 prefers B
    nxt = (await queue_env.client.post(f"{API}/windows/2/call-next", headers=h2)).json()
    assert nxt["id"] == a["id"] and nxt["number"] == "A001"
    assert later_b[0]["number"] == "B001"


async def test_transfer_to_a_window_is_called_only_there(queue_env: QueueEnv) -> None:
    """A ticket sent to window 3 is not called by window 1, and window 3 calls it first."""
    t = await queue_env.issue()
    h1 = await queue_env.sign_in(1)
    await queue_env.client.post(f"{API}/windows/1/call-next", headers=h1)
    r = await queue_env.client.post(f"{API}/tickets/{t['id']}/transfer", headers=h1, json={"to_window_no": 3})
    assert r.status_code == 200 and r.json()["window_no"] == 3
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h1)).status_code == 204
    await queue_env.issue()
    h3 = await queue_env.sign_in(3)
    assert (await queue_env.client.post(f"{API}/windows/3/call-next", headers=h3)).json()["id"] == t["id"]


async def test_recall_then_no_show_then_requeue(queue_env: QueueEnv) -> None:
    """No-show needs two calls; recall stops at three; a re-queued no-show is called again after 3 others."""
    t = await queue_env.issue()
    others = [await queue_env.issue() for _ in range(5)]
    h = await queue_env.sign_in(1)
    await queue_env.client.post(f"{API}/windows/1/call-next", headers=h)
    r = await queue_env.client.post(f"{API}/tickets/{t['id']}/no-show", headers=h)
    assert r.status_code == 409 and "2" in r.json()["message"]
    assert (await queue_env.client.post(f"{API}/tickets/{t['id']}/recall", headers=h)).json()["call_no"] == 2
    assert (await queue_env.client.post(f"{API}/tickets/{t['id']}/recall", headers=h)).json()["call_no"] == 3
    assert (await queue_env.client.post(f"{API}/tickets/{t['id']}/recall", headers=h)).status_code == 409
    assert (await queue_env.client.post(f"{API}/tickets/{t['id']}/no-show", headers=h)).json()["status"] == "no_show"
    r = await queue_env.client.post(f"{API}/tickets/{t['id']}/requeue", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "waiting" and r.json()["ahead"] == 3
    order = []
    for _ in range(6):
        c = (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h)).json()
        order.append(c["id"])
        await queue_env.client.post(f"{API}/tickets/{c['id']}/complete", headers=h)
    assert order == [o["id"] for o in others[:3]] + [t["id"]] + [o["id"] for o in others[3:]]
    calls = await queue_env.events(types=("queue.ticket.called",))
    assert [e.data["call_no"] for e in calls if e.data["ticket_id"] == t["id"]] == [1, 2, 3, 1]


async def test_paused_window_does_not_call_and_pause_needs_a_reason(queue_env: QueueEnv) -> None:
    """Pause without a reason is refused; a paused window cannot call; resume restores calling."""
    await queue_env.issue()
    h = await queue_env.sign_in(1)
    assert (await queue_env.client.post(f"{API}/windows/1/pause", headers=h)).status_code == 422
    r = await queue_env.client.post(f"{API}/windows/1/pause", headers=h, json={"reason": "临时离开"})
    assert r.status_code == 200 and r.json()["state"] == "paused"
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h)).status_code == 409
    assert (await queue_env.client.post(f"{API}/windows/1/resume", headers=h)).json()["state"] == "open"
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h)).status_code == 200
    paused = await queue_env.events(types=("queue.window.paused",), expect=1)
    assert paused[0].data["reason"] == "临时离开"


async def test_green_channel_goes_first_when_staff_confirms(queue_env: QueueEnv) -> None:
    """A green-channel ticket issued with a clerk's token is called before normal tickets issued earlier."""
    normal = [await queue_env.issue() for _ in range(3)]
    h2 = await queue_env.sign_in(2)
    r = await queue_env.client.post(f"{API}/tickets", headers=h2, json={"matter_id": "yl-txsq", "priority": "green"})
    assert r.status_code == 201 and r.json()["ahead"] == 0
    green = r.json()
    first_now = (await queue_env.client.get(f"{API}/tickets/{normal[0]['id']}")).json()
    assert normal[0]["ahead"] == 0 and first_now["ahead"] == 1
    h1 = await queue_env.sign_in(1)
    assert (await queue_env.client.post(f"{API}/windows/1/call-next", headers=h1)).json()["id"] == green["id"]


async def test_waiting_estimate_follows_open_windows(queue_env: QueueEnv) -> None:
    """The tenth person waits less when two windows serving the queue are open than when one is."""
    tickets = [await queue_env.issue() for _ in range(10)]
    last = tickets[-1]
    assert last["ahead"] == 9
    await queue_env.sign_in(1)
    one = (await queue_env.client.get(f"{API}/tickets/{last['id']}")).json()["estimated_wait_s"]
    await queue_env.sign_in(3)
    two = (await queue_env.client.get(f"{API}/tickets/{last['id']}")).json()["estimated_wait_s"]
    assert 0 < two < one
