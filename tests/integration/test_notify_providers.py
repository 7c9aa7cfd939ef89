"""The webhook provider against a real local HTTP server, and the service process as ``hallnet up`` starts it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from hallnet.embedded import with_parent_death
from hallnet.stack import service_env
from services.notify.main import make_provider
from tests.harness import Servers, wait_healthy
from tests.integration.notify_fixtures import PHONE, called, notify_settings, staff_token, start_notify


class Gateway:
    """A stand-in SMS gateway (ASGI, served by uvicorn on a real socket): answers from a script, records bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            msg = await receive()
            raw += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        self.bodies.append(json.loads(raw))
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        status = self.statuses.pop(0) if self.statuses else 200
        body = json.dumps({"message_id": f"gw-{len(self.bodies)}"}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Gateway) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/sms"
    finally:
        server.should_exit = True
        await task


async def test_webhook_retries_a_503_then_sends(servers: Servers, site: str, database_url: str) -> None:
    """A 503 from the gateway is retried; the same message id and the full signed text reach it; 2xx is sent."""
    gateway = Gateway([503])
    async with serve(gateway) as url:
        settings = notify_settings(site, database_url, servers.nats_url, notify_provider="webhook",
                                   notify_webhook_url=url, notify_webhook_token="gw-token")
        provider = make_provider(settings)
        async with start_notify(servers, site, database_url, provider=provider) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket))
            msgs = await env.wait_messages(ticket, lambda m: bool(m) and m[0]["status"] == "sent")
    assert msgs[0]["status"] == "sent" and msgs[0]["attempts"] == 2
    assert len(gateway.bodies) == 2 and gateway.bodies[0]["id"] == gateway.bodies[1]["id"] == msgs[0]["id"]
    assert gateway.bodies[1] == {"id": msgs[0]["id"], "phone": PHONE, "signature": "测试大厅",
                                 "text": "【测试大厅】请A015号到3号窗口办理。", "template": "ticket_called", "parts": 1}
    assert gateway.headers[1]["authorization"] == "Bearer gw-token"
    assert gateway.headers[1]["idempotency-key"] == msgs[0]["id"]


async def test_webhook_refusal_is_final(servers: Servers, site: str, database_url: str) -> None:
    """A 400 from the gateway fails the message at once (no retry), recorded as http_400."""
    gateway = Gateway([400])
    async with serve(gateway) as url:
        settings = notify_settings(site, database_url, servers.nats_url, notify_provider="webhook",
                                   notify_webhook_url=url)
        async with start_notify(servers, site, database_url, provider=make_provider(settings)) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket))
            msgs = await env.wait_messages(ticket, lambda m: bool(m) and m[0]["status"] == "failed")
            events = await env.events(expect=1)
    assert msgs[0]["error_code"] == "http_400" and msgs[0]["attempts"] == 1 and len(gateway.bodies) == 1
    assert [(e.type, e.data["final"]) for e in events] == [("notify.sms.failed", True)]


def start_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = with_parent_death([sys.executable, "-m", "services.notify"])
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"),  # noqa: S603  (our own service)
                            stderr=subprocess.STDOUT, start_new_session=True)


async def test_process_starts_with_the_stack_env(servers: Servers, site: str, database_url: str,
                                                 tmp_path: Path) -> None:
    """``python -m services.notify`` starts with only the variables ``hallnet up`` sets (no notify key) and
    answers health and the messages API (401 without a staff token, the list with one)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NATS_URL")}
    env.update(service_env(site=site, site_name="株洲市人社局便民服务大厅", service="notify",
                           nats_url=servers.nats_url, db_url=database_url, port=port, token_secret="s-" + site,
                           seed_file=tmp_path / "none.json"))
    log = tmp_path / "notify.log"
    proc = start_process(env, log)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}", "notify", proc)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/notify/api/v1") as client:
            ref = str(uuid.uuid4())
            r = await client.post("/contacts", json={"ref_type": "case", "ref_id": ref, "phone": PHONE})
            assert r.status_code == 201 and r.json()["phone_masked"] == "138****1234"
            assert (await client.get("/messages", params={"ref_id": ref})).status_code == 401
            headers = {"Authorization": f"Bearer {staff_token('s-' + site, site)}"}
            assert (await client.get("/messages", params={"ref_id": ref}, headers=headers)).json() == []
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text(encoding="utf-8")
    assert "data_key_not_set" in text and PHONE not in text
