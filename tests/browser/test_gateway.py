"""The site gateway as ``hallnet up`` starts it (``python -m services.gateway``) in front of a real HTTP upstream:
requests are forwarded whole, server-sent events stream through as they happen, a service that is down is a
502 JSON answer, QR codes only for this site's own pages, and the pages need nothing beyond the site."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hallnet.embedded import with_parent_death

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "services" / "gateway" / "static"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "path": request.url.path, "query": request.url.query,
                         "authorization": request.headers.get("authorization"),
                         "content_type": request.headers.get("content-type"),
                         "cookie": request.headers.get("cookie"),
                         "forwarded_for": request.headers.get("x-forwarded-for"),
                         "body": (await request.body()).decode()}, status_code=201)


async def stream(_: Request) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        yield 'event: board\ndata: {"n": 1}\n\n'
        await asyncio.sleep(1.5)
        yield 'event: call\ndata: {"n": 2}\n\n'

    return StreamingResponse(events(), media_type="text/event-stream")


async def empty(_: Request) -> Response:
    return Response(status_code=204)


UPSTREAM = Starlette(routes=[Route("/queue/api/v1/echo", echo, methods=["GET", "POST", "PATCH"]),
                             Route("/queue/api/v1/board/stream", stream),
                             Route("/queue/api/v1/nothing", empty, methods=["POST"])])


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """A real upstream (uvicorn in a thread) for /queue, nothing listening for /notify, and the gateway process."""
    up_port, gw_port, dead_port = free_port(), free_port(), free_port()
    server = uvicorn.Server(uvicorn.Config(UPSTREAM, host="127.0.0.1", port=up_port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    env = {**os.environ, "HALLNET_SITE": "zhuzhou", "HALLNET_SITE_NAME": "株洲<大厅>",
           "HALLNET_HTTP_PORT": str(gw_port), "HALLNET_LOG_FORMAT": "json",
           "HALLNET_UPSTREAMS": json.dumps({"queue": f"http://127.0.0.1:{up_port}",
                                            "notify": f"http://127.0.0.1:{dead_port}"})}
    proc = subprocess.Popen(with_parent_death([sys.executable, "-m", "services.gateway"]), cwd=ROOT, env=env,  # noqa: S603 - our own service, argv list, no shell
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{gw_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/gateway/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "gateway exited"
            assert time.monotonic() < deadline, "the gateway did not answer its health check in 20 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        server.should_exit = True
        thread.join(5)


async def test_requests_are_forwarded_with_method_query_body_and_token(gateway: str) -> None:
    """A clerk's POST reaches the service with its query, JSON body and bearer token; cookies stay behind."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        r = await http.post("/queue/api/v1/echo?window=3&x=%E4%B8%AD", json={"reason": "短暂离开"},
                            headers={"Authorization": "Bearer t0ken", "Cookie": "s=1",
                                     "X-Forwarded-For": "6.6.6.6"})
    assert r.status_code == 201, r.text
    seen = r.json()
    assert seen["method"] == "POST" and seen["path"] == "/queue/api/v1/echo"
    assert seen["query"] == "window=3&x=%E4%B8%AD"
    assert seen["authorization"] == "Bearer t0ken" and seen["content_type"] == "application/json"
    assert json.loads(seen["body"]) == {"reason": "短暂离开"} and seen["cookie"] is None
    assert seen["forwarded_for"] == "127.0.0.1", "a caller's own X-Forwarded-For must not pass the gateway"


async def test_no_content_answers_stay_empty(gateway: str) -> None:
    """A 204 from the service (nobody waiting at call-next) arrives as a bodiless 204."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        r = await http.post("/queue/api/v1/nothing")
    assert r.status_code == 204 and r.content == b""


async def test_server_sent_events_stream_through_as_they_happen(gateway: str) -> None:
    """The display gets the first board event at once, not when the service's stream ends."""
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    async with httpx.AsyncClient(base_url=gateway, timeout=10) as http, \
            http.stream("GET", "/queue/api/v1/board/stream") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                arrivals.append((time.monotonic() - started, line))
    assert [e for _, e in arrivals] == ["event: board", "event: call"]
    assert arrivals[0][0] < 1.0 and arrivals[1][0] - arrivals[0][0] > 1.0, arrivals


async def test_a_service_that_is_down_is_a_502_json_answer(gateway: str) -> None:
    """When the notify service does not answer, the page gets a clear JSON 502, not a hang or an HTML error."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        r = await http.post("/notify/api/v1/contacts", json={"ref_type": "ticket"})
        unknown = await http.get("/matters/api/v1/matters")
    assert r.status_code == 502
    assert r.json()["error"] == "bad_gateway" and "notify" in r.json()["message"]
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


async def test_qr_codes_only_for_this_sites_ticket_and_rating_pages(gateway: str) -> None:
    """The kiosk's QR is an SVG of this site's /t/… page; foreign links and other paths are refused with 422."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        ok = await http.get("/qr.svg", params={"data": "/t/0190f0e0-0000-7000-8000-000000000001"})
        own_abs = await http.get("/qr.svg", params={"data": gateway + "/r/abc"})
        foreign = await http.get("/qr.svg", params={"data": "https://evil.example/t/1"})
        other = await http.get("/qr.svg", params={"data": "/queue/api/v1/board"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("image/svg+xml")
    assert ok.text.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in ok.text and "<path" in ok.text
    assert own_abs.status_code == 200
    for r in (foreign, other):
        assert r.status_code == 422 and r.json()["error"] == "unprocessable", r.text


async def test_every_page_is_served_with_the_site_name_and_only_local_assets(gateway: str) -> None:
    """Each screen answers HTML titled with the (escaped) site name, and no page or script loads anything off-site."""
    async with httpx.AsyncClient(base_url=gateway) as http:
        for path in ["/", "/kiosk", "/console?window=1", "/display", "/pad?window=1", "/manager", "/backoffice",
                     "/t/0190f0e0-0000-7000-8000-000000000001", "/r/0190f0e0-0000-7000-8000-000000000002"]:
            r = await http.get(path)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), path
            assert "株洲&lt;大厅&gt;" in r.text and "<大厅>" not in r.text, path
        health = (await http.get("/gateway/api/v1/health")).json()
    assert health["status"] == "ok" and health["checks"]["upstreams"] == ["notify", "queue"]
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)\s*=\s*['\"](https?:)?//", text), f"{f.name} loads something off-site"
        assert "@import url(http" not in text and "fonts.googleapis" not in text, f.name
