"""The hall display's live stream, and the trace carried from an HTTP request into the event headers."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
import uvicorn
from nats.js.api import ConsumerConfig, DeliverPolicy

from hallnet.embedded import free_port
from shared.settings import site_stream_name
from tests.integration.conftest import QueueEnv


async def test_board_stream_pushes_calls_for_the_voice_queue(queue_env: QueueEnv) -> None:
    """A display connected to the board stream gets the board, then a call event when a window calls A001
    and again (call_no 2) when it recalls."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(queue_env.fastapi, host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    events: list[tuple[str, dict]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client, \
                client.stream("GET", "/queue/api/v1/board/stream") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.aiter_lines()

            async def next_event() -> tuple[str, dict]:
                name = ""
                async for line in lines:
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        return name, json.loads(line[6:])
                raise AssertionError("stream ended")

            events.append(await next_event())
            t = await queue_env.issue()
            h = await queue_env.sign_in(3)
            await queue_env.client.post("/queue/api/v1/windows/3/call-next", headers=h)
            await queue_env.client.post(f"/queue/api/v1/tickets/{t['id']}/recall", headers=h)
            async with asyncio.timeout(10):
                while sum(1 for n, _ in events if n == "call") < 2:
                    events.append(await next_event())
    finally:
        server.should_exit = True
        await serving
    assert events[0][0] == "board" and {w["no"] for w in events[0][1]["windows"]} == {1, 2, 3, 4}
    calls = [d for n, d in events if n == "call"]
    assert [(c["number"], c["window_no"], c["call_no"]) for c in calls] == [("A001", 3, 1), ("A001", 3, 2)]


async def test_board_shows_the_service_each_window_finished_last(queue_env: QueueEnv) -> None:
    """After a window calls, starts and completes A001 the board names A001 as that window's last finished
    service (the rating pad follows it), and the other windows have none."""
    t = await queue_env.issue()
    h = await queue_env.sign_in(2)
    for path in ("windows/2/call-next", f"tickets/{t['id']}/start", f"tickets/{t['id']}/complete"):
        assert (await queue_env.client.post(f"/queue/api/v1/{path}", headers=h)).status_code == 200
    board = (await queue_env.client.get("/queue/api/v1/board")).json()
    by_no = {w["no"]: w for w in board["windows"]}
    assert by_no[2]["current"] is None
    assert by_no[2]["last_done"]["ticket_id"] == t["id"] and by_no[2]["last_done"]["number"] == "A001"
    assert by_no[1]["last_done"] is None


async def test_trace_of_the_request_continues_in_the_event_headers(queue_env: QueueEnv) -> None:
    """An event published for a request carries a traceparent of that request's trace and its Nats-Msg-Id."""
    trace_id = secrets.token_hex(16)
    parent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    r = await queue_env.client.post("/queue/api/v1/tickets", json={"matter_id": "yl-txsq"},
                                    headers={"traceparent": parent})
    assert r.status_code == 201
    js = queue_env.nc.jetstream()
    site = queue_env.settings.site
    sub = await js.pull_subscribe(f"hall.{site}.queue.ticket.issued", durable=None, stream=site_stream_name(site),
                                  config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
    async with asyncio.timeout(10):
        while True:
            try:
                msgs = await sub.fetch(1, timeout=1)
                break
            except TimeoutError:
                continue
    headers = msgs[0].headers or {}
    body = json.loads(msgs[0].data)
    assert headers["traceparent"].split("-")[1] == trace_id
    assert headers["Nats-Msg-Id"] == f"{site}:{body['id']}"
    assert body["data"]["ticket_id"] == r.json()["id"]
