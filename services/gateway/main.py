"""Bootstrap of the site gateway (站点网关): the site's single entry URL. It serves the screens (static pages
under ``static/``), the ticket QR codes, and proxies ``/queue``, ``/matters``, ``/ratings`` and ``/notify`` to the
site's services, so every page talks to its own origin (no CORS). It holds no database and no NATS connection."""

from __future__ import annotations

import html
import io
import urllib.parse as up
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import segno
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from services.gateway.proxy import forward
from services.gateway.settings import ROUTED, GatewaySettings
from shared import errors
from shared.http import create_app
from shared.logging import get_logger
from shared.runtime import prepare

log = get_logger("gateway")
STATIC = Path(__file__).parent / "static"
PREFIX = "/gateway/api/v1"
# page path → file; the pages read their parameters (window, ticket id, invitation id) from the URL
PAGES = {"/": "index.html", "/kiosk": "kiosk.html", "/console": "console.html", "/display": "display.html",
         "/pad": "pad.html", "/manager": "manager.html", "/backoffice": "backoffice.html", "/wall": "wall.html"}
QR_PATHS = ("/t/", "/r/")  # a QR code only ever points at this site's ticket or rating pages


def page(name: str, settings: GatewaySettings) -> HTMLResponse:
    text = (STATIC / name).read_text(encoding="utf-8")
    text = text.replace("%SITE_NAME%", html.escape(settings.site_name)).replace("%SITE%", html.escape(settings.site))
    return HTMLResponse(text, headers={"Cache-Control": "no-cache"})


def qr_target(data: str, request: Request, settings: GatewaySettings) -> str:
    """The absolute URL to encode: ``data`` must be a ticket/rating page of this site (relative, or absolute on
    this gateway's own host); anything else is refused so the kiosk cannot be made to print foreign links."""
    base = (settings.gateway_public_url or str(request.base_url)).rstrip("/")
    parts = up.urlsplit(data)
    if parts.scheme or parts.netloc:
        own = {up.urlsplit(base).netloc, request.headers.get("host", "")}
        if parts.scheme not in ("http", "https") or parts.netloc not in own:
            raise errors.Unprocessable("只能为本站点的页面生成二维码 / QR codes only for this site's pages",
                                       field="data")
    path = parts.path
    if not path.startswith(QR_PATHS) or ".." in path or len(path) > 120 or parts.query or parts.fragment:
        raise errors.Unprocessable("只能为票号页或评价页生成二维码 / QR codes only for /t/… and /r/… pages",
                                   field="data")
    return base + path


def build_app(settings: GatewaySettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.upstream_timeout_s, connect=3.0)
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as http:
            app.state.http = http
            log.info("gateway_started", http=f"http://{settings.http_host}:{settings.http_port}",
                     upstreams=sorted(settings.upstreams))
            yield

    app = create_app("gateway", "hallnet site gateway (站点网关)", settings.version, lifespan=lifespan)

    @app.get(f"{PREFIX}/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "site": settings.site, "service": "gateway", "version": settings.version,
                "checks": {"upstreams": sorted(settings.upstreams)}}

    @app.get(f"{PREFIX}/site")
    async def site() -> dict[str, Any]:
        """What the pages need to know about their site: id, name, the services behind this gateway."""
        return {"site": settings.site, "site_name": settings.site_name, "services": sorted(settings.upstreams)}

    @app.get("/qr.svg", response_class=Response)
    async def qr(request: Request, data: str = Query(min_length=3, max_length=300)) -> Response:
        """SVG QR code of one of this site's ticket (``/t/<id>``) or rating (``/r/<id>``) pages."""
        target = qr_target(data, request, settings)
        buf = io.BytesIO()  # a standalone SVG document (with its namespace), so that <img src> renders it
        segno.make(target, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False)
        return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    for path, name in PAGES.items():
        app.add_api_route(path, (lambda n=name: page(n, settings)), methods=["GET"], include_in_schema=False,
                          response_class=HTMLResponse)

    @app.get("/t/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
    async def ticket_page(ticket_id: str) -> HTMLResponse:
        return page("ticket.html", settings)

    @app.get("/r/{invitation_id}", response_class=HTMLResponse, include_in_schema=False)
    async def rating_page(invitation_id: str) -> HTMLResponse:
        return page("rate.html", settings)

    async def proxy(request: Request) -> Response:
        service = request.url.path.split("/", 2)[1]
        base = settings.upstreams.get(service)
        if base is None:
            raise errors.NotFound(f"本站点未配置 {service} 服务 / no {service} service behind this gateway")
        return await forward(request.app.state.http, service, base, request)

    for service in ROUTED:
        app.add_api_route(f"/{service}/{{rest:path}}", proxy, include_in_schema=False,
                          methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def main() -> None:
    import uvicorn

    settings = GatewaySettings()
    prepare(settings)
    # as shared.runtime.serve, but the gateway is the site's edge: uvicorn must not take the client's address
    # from an X-Forwarded-For header the client wrote itself (proxy_headers=False)
    uvicorn.run(build_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5, proxy_headers=False)


if __name__ == "__main__":
    main()
