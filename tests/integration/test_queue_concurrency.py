"""The bugs of NovoSGA issues 213, 214 and 290: one ticket called twice, one number issued twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

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
        mine = []
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
