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
