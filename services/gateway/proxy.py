"""Reverse proxy of the site's services by path prefix (``/queue/…`` → the queue service, …), streaming the
answer through so that server-sent events (``/queue/api/v1/board/stream``) reach the screens as they happen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from shared.http import error_body
from shared.logging import get_logger

log = get_logger("gateway")

# request headers passed to the service; everything else (cookies, host, …) stays at the gateway
FORWARD_REQUEST = ("authorization", "content-type", "accept", "accept-language", "traceparent", "tracestate",
                   "last-event-id", "idempotency-key")
# answer headers passed back (hop-by-hop and length headers are the gateway's own business)
FORWARD_RESPONSE = ("content-type", "content-encoding", "cache-control", "content-disposition", "retry-after",
                    "location", "x-accel-buffering", "etag", "last-modified")


def upstream_url(base: str, request: Request) -> str:
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    query = request.url.query
    return f"{base}{path}" + (f"?{query}" if query else "")


def request_headers(request: Request) -> dict[str, str]:
    headers = {k: v for k in FORWARD_REQUEST if (v := request.headers.get(k)) is not None}
    # the gateway is the site's edge: the caller's own X-Forwarded-For is dropped, never trusted (the ratings
    # service rate-limits by the first entry)
    headers["x-forwarded-for"] = request.client.host if request.client else "unknown"
    headers["x-forwarded-proto"] = request.url.scheme
    headers["x-forwarded-host"] = request.headers.get("host", "")
    return headers


async def forward(http: httpx.AsyncClient, service: str, base: str, request: Request) -> Response:
    """Send the request on to ``base`` and stream the answer back; 502 JSON when the service does not answer."""
    body = await request.body()
    upstream = http.build_request(request.method, upstream_url(base, request), headers=request_headers(request),
                                  content=body or None)
    try:
        resp = await http.send(upstream, stream=True)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadTimeout,
            httpx.PoolTimeout, httpx.WriteError, httpx.ReadError) as exc:
        log.warning("upstream_unreachable", service=service, error=type(exc).__name__)
        return JSONResponse(error_body(502, "bad_gateway", f"服务暂不可用 / the {service} service does not answer",
                                       service=service), status_code=502)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:  # the service went away mid-answer: end the stream, the page reconnects
            log.warning("upstream_stream_broken", service=service, error=type(exc).__name__)
        finally:
            await resp.aclose()

    headers = {k: v for k in FORWARD_RESPONSE if (v := resp.headers.get(k)) is not None}
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        return StreamingResponse(chunks(), status_code=resp.status_code, headers=headers)
    try:  # an ordinary answer: read it whole (exact Content-Length; 204 stays bodiless)
        content = await resp.aread()
    except httpx.HTTPError as exc:
        log.warning("upstream_answer_broken", service=service, error=type(exc).__name__)
        return JSONResponse(error_body(502, "bad_gateway", f"服务应答中断 / the {service} service broke off",
                                       service=service), status_code=502)
    finally:
        await resp.aclose()
    return Response(content, status_code=resp.status_code, headers=headers)
