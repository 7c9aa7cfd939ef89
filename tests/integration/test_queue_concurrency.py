"""The bugs of NovoSGA issues 213, 214 and 290: one ticket called twice, one number issued twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from services.queue.domain import TicketAtWindow, WindowNotOpen
from shared import errors
from tests.integration.conftest import QueueEnv


async def test_concurrent_issuing_never_repeats_a_number(queue_env: QueueEnv) -> None:
    """200 tickets issued at once in one queue get the numbers A001…A200, each exactly once."""
    tickets = await asyncio.gather(*(queue_env.issue("yl-txsq") for _ in range(200)))
    numbers = Counter(t["number"] for t in tickets)
    assert max(numbers.values()) == 1
    assert set(numbers) == {f"A{i:03d}" for i in range(1, 201)}


@pytest.mark.parametrize("windows_count", [50])
async def test_fifty_windows_calling_at_once_never_call_one_ticket_twice(queue_env: QueueEnv) -> None:
    """50 windows call next at the same instant, round after round: every ticket is called once, none is lost."""
    issued = [await queue_env.issue("yl-txsq" if i % 3 else "yb-ydjy") for i in range(150)]
    heads = await asyncio.gather(*(queue_env.sign_in(no) for no in range(1, 51)))
    called: list[str] = []

    async def one_window(no: int, headers: dict[str, str]) -> list[str]:
        mine: list[str] = []
        while True:
            r = await queue_env.client.post(f"/queue/api/v1/windows/{no}/call-next", headers=headers)
            if r.status_code == 204:
                return mine
            assert r.status_code == 200, r.text
            mine.append(r.json()["id"])
            r = await queue_env.client.post(f"/queue/api/v1/tickets/{mine[-1]}/complete", headers=headers)
            assert r.status_code == 200, r.text

    for got in await asyncio.gather(*(one_window(no, h) for no, h in enumerate(heads, start=1))):
        called.extend(got)
    assert len(called) == len(set(called)) == 150
    assert set(called) == {t["id"] for t in issued}
    events = await queue_env.events(expect=150, types=("queue.ticket.called",))
    assert Counter(e.data["ticket_id"] for e in events).most_common(1)[0][1] == 1


async def test_one_window_double_click_calls_one_ticket(queue_env: QueueEnv) -> None:
    """Two call-next requests of the same window at once: one calls, the other is told to finish it first."""
    for _ in range(3):
        await queue_env.issue()
    headers = await queue_env.sign_in(1)
    a, b = await asyncio.gather(*(queue_env.client.post("/queue/api/v1/windows/1/call-next", headers=headers)
                                  for _ in range(2)))
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    assert "A001" in (a.text + b.text)


async def test_windows_calling_in_one_batch_each_get_their_own_answer(queue_env: QueueEnv) -> None:
    """Five presses decided in one transaction: each open window calls the head of the queue it prefers, a
    second press of the same window is told to finish that ticket first, a paused window and an ended
    session are refused, and only the two real calls are announced."""
    from shared.auth import ClerkClaims, verify_token

    for matter in ("yl-txsq", "yl-txsq", "yb-ydjy", "yb-ydjy"):
        await queue_env.issue(matter)
    heads = {no: await queue_env.sign_in(no) for no in (1, 2, 3, 4)}
    stale = heads[3]
    r = await queue_env.client.post("/queue/api/v1/windows/3/sign-out", headers=stale, json={"confirm": True})
    assert r.status_code == 200  # people wait: signed out only with the clerk's confirmation
    await queue_env.sign_in(3)
    r = await queue_env.client.post("/queue/api/v1/windows/4/pause", json={"reason": "午休"}, headers=heads[4])
    assert r.status_code == 200

    def claims(h: dict[str, str]) -> ClerkClaims:
        return verify_token(queue_env.settings.token_secret, h["Authorization"][7:], site=queue_env.settings.site)

    presses = [(claims(heads[1]), 1), (claims(heads[2]), 2), (claims(heads[2]), 2), (claims(stale), 3),
               (claims(heads[4]), 4)]
    first, second, again, ended, paused = await queue_env.app.calling.call_batch(presses)
    assert isinstance(first, dict) and first["number"] == "A001" and first["window_no"] == 1  # window 1: A first
    assert isinstance(second, dict) and second["number"] == "B001" and second["window_no"] == 2  # window 2: B first
    assert isinstance(again, TicketAtWindow) and again.status == 409 and "B001" in str(again)
    assert isinstance(ended, errors.Unauthorized)
    assert isinstance(paused, WindowNotOpen) and paused.status == 409 and "paused" in str(paused)
    called = await queue_env.events(expect=2, types=("queue.ticket.called",))
    assert sorted(e.data["number"] for e in called) == ["A001", "B001"]
