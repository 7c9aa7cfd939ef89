"""A ticket's life over HTTP, with its events on NATS."""

from __future__ import annotations

from tests.integration.conftest import QueueEnv


async def test_ticket_from_issue_to_completion_emits_contract_events(queue_env: QueueEnv) -> None:
    """Issue, call, start and complete a ticket: answers follow the contract and events arrive in order."""
    t = await queue_env.issue("yl-txsq")
    assert t["number"] == "A001" and t["status"] == "waiting" and t["ahead"] == 0
    headers = await queue_env.sign_in(1)
    r = await queue_env.client.post("/queue/api/v1/windows/1/call-next", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == t["id"] and r.json()["status"] == "called" and r.json()["window_no"] == 1
    for action, status in (("start", "serving"), ("complete", "done")):
        r = await queue_env.client.post(f"/queue/api/v1/tickets/{t['id']}/{action}", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    r = await queue_env.client.post("/queue/api/v1/windows/1/call-next", headers=headers)
    assert r.status_code == 204
    events = await queue_env.events(expect=5)
    types = [e.type for e in events]
    assert types == ["queue.ticket.issued", "queue.window.signed_in", "queue.ticket.called",
                     "queue.ticket.started", "queue.ticket.completed"]
    done = events[-1].data
    assert done["ticket_id"] == t["id"] and done["window_no"] == 1 and done["staff_id"] == "s001"
    assert events[2].data["call_no"] == 1


async def test_snapshot_reports_waiting_and_windows(queue_env: QueueEnv) -> None:
    """queue.snapshot carries each queue's waiting count and each window's state, for central."""
    from services.queue.board import publish_snapshot

    for _ in range(3):
        await queue_env.issue("yb-ydjy")
    await queue_env.sign_in(2)
    await publish_snapshot(queue_env.app.ctx)
    snaps = await queue_env.events(types=("queue.snapshot",), expect=2)
    last = snaps[-1].data
    waiting = {q["queue_id"]: q["waiting"] for q in last["queues"]}
    queues = {q["prefix"]: q["id"] for q in (await queue_env.client.get("/queue/api/v1/queues")).json()}
    assert waiting[queues["B"]] == 3 and waiting[queues["A"]] == 0
    states = {w["window_no"]: (w["state"], w["staff_id"]) for w in last["windows"]}
    assert states[2] == ("open", "s002") and states[1] == ("closed", None)


async def test_events_written_outside_a_request_still_carry_a_traceparent(queue_env: QueueEnv) -> None:
    """A snapshot written by the background loop (no HTTP request) is published with a traceparent."""
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from services.queue.board import publish_snapshot
    from shared.settings import site_stream_name

    await publish_snapshot(queue_env.app.ctx)
    site = queue_env.settings.site
    sub = await queue_env.nc.jetstream().pull_subscribe(
        f"hall.{site}.queue.snapshot", durable=None, stream=site_stream_name(site),
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    msgs = await sub.fetch(2, timeout=5)
    assert msgs and all((m.headers or {}).get("traceparent", "").startswith("00-") for m in msgs)


async def test_a_clerk_sees_their_own_numbers_of_today(queue_env: QueueEnv) -> None:
    """Window 1's clerk served one and marked one no-show: the console's own figures say so; another window's
    token cannot read them, and window 2's clerk has their own (empty) figures."""
    base = "/queue/api/v1"
    served, missed = await queue_env.issue("yl-txsq"), await queue_env.issue("yl-txsq")
    h1 = await queue_env.sign_in(1)
    for t in (served, missed):
        r = await queue_env.client.post(f"{base}/windows/1/call-next", headers=h1)
        assert r.json()["id"] == t["id"], r.text
        if t is served:
            for action in ("start", "complete"):
                r = await queue_env.client.post(f"{base}/tickets/{t['id']}/{action}", headers=h1)
                assert r.status_code == 200, r.text
        else:
            await queue_env.client.post(f"{base}/tickets/{t['id']}/recall", headers=h1)
            r = await queue_env.client.post(f"{base}/tickets/{t['id']}/no-show", headers=h1)
            assert r.status_code == 200, r.text
    r = await queue_env.client.get(f"{base}/windows/1/today", headers=h1)
    assert r.status_code == 200, r.text
    mine = r.json()
    assert (mine["staff_id"], mine["called"], mine["served"], mine["no_shows"]) == ("s001", 2, 1, 1)
    assert mine["avg_service_s"] is not None and mine["avg_wait_s"] is not None
    assert (await queue_env.client.get(f"{base}/windows/2/today", headers=h1)).status_code == 403
    assert (await queue_env.client.get(f"{base}/windows/1/today")).status_code == 401
    h2 = await queue_env.sign_in(2)
    other = (await queue_env.client.get(f"{base}/windows/2/today", headers=h2)).json()
    assert (other["staff_id"], other["called"], other["served"]) == ("s002", 0, 0)
