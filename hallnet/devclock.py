"""Development only: the matters service as ``hallnet up`` runs it, whose requests may be dated in the past.

The demo should show what a hall really looks like after a few weeks: cases accepted days ago, some near
their deadline (黄牌) or past it (红牌). The deadlines are working days, so a fresh demo has none, and nothing in
the services can — or should — date a case in the past. ``hallnet up`` therefore runs the matters service through
this module: the very same app (``services.matters.main.build_app``), with one addition. A request carrying
``X-Hallnet-Dev-As-Of: <ISO 8601 time with offset>`` (in the past, at most ``MAX_DAYS_BACK`` days) is handled
as if it came at that time: the service's own rules count the working days, set the due date and write the
history as they would have then. The answer repeats the header, so the caller knows it was honoured. Every
other request, and the deadline checker, run on the real clock; it is the checker that then shows the cards.

Deployments (``python -m services.matters``, the Dockerfile, docker-compose) have no such header; the site
gateway forwards only its own list of headers, so pages cannot send it either. The demo's traffic simulator
(``hallnet/sim_cases.py``) uses it to seed a few weeks of history, once, before the live day.

    python -m hallnet.devclock    # with the environment of `python -m services.matters`
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.clock import now as clock_now

HEADER = "x-hallnet-dev-as-of"
MAX_DAYS_BACK = 60
_AS_OF: ContextVar[datetime | None] = ContextVar("hallnet_dev_as_of", default=None)


def dev_clock(tz: ZoneInfo, real: Callable[[], datetime] | None = None) -> Callable[[], datetime]:
    """The service's clock: the request's ``X-Hallnet-Dev-As-Of`` time while one is being handled, else real."""
    def now() -> datetime:
        as_of = _AS_OF.get()
        return as_of if as_of is not None else (real() if real else clock_now(tz))
    return now


def parse_as_of(raw: str, now: datetime) -> datetime:
    """The time a request is dated at; ValueError unless it is ISO 8601 with an offset, in the past and at most
    ``MAX_DAYS_BACK`` days back."""
    at = datetime.fromisoformat(raw.strip())
    if at.tzinfo is None:
        raise ValueError("the time needs an offset (e.g. +08:00)")
    if at > now:
        raise ValueError("only the past: a request cannot be dated in the future")
    if now - at > timedelta(days=MAX_DAYS_BACK):
        raise ValueError(f"at most {MAX_DAYS_BACK} days back")
    return at


class DatedRequests:
    """Pure ASGI middleware: a request with ``X-Hallnet-Dev-As-Of`` runs with that time as the clock's now."""

    def __init__(self, app: ASGIApp, tz: ZoneInfo, real: Callable[[], datetime] | None = None) -> None:
        self.app, self.tz = app, tz
        self.real = real or (lambda: clock_now(tz))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = dict(scope.get("headers") or []).get(HEADER.encode()) if scope["type"] == "http" else None
        if raw is None:
            await self.app(scope, receive, send)
            return
        try:
            at = parse_as_of(raw.decode("latin-1"), self.real())
        except ValueError as exc:
            body = json.dumps({"error": "invalid_input", "message": f"X-Hallnet-Dev-As-Of 无效 / invalid: {exc}"},
                              ensure_ascii=False).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 422, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        stamp = at.astimezone(self.tz).isoformat(timespec="seconds").encode()

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER.encode(), stamp)]}
            await send(message)

        token = _AS_OF.set(at.astimezone(self.tz))
        try:
            await self.app(scope, receive, send_dated)
        finally:
            _AS_OF.reset(token)


def main(argv: list[str] | None = None) -> None:
    if argv is None:
        argv = sys.argv[1:]
    if argv:  # it takes no arguments: everything comes from the environment, as for `python -m services.matters`
        print(__doc__)
        raise SystemExit(0 if argv[0] in ("-h", "--help") else 2)
    from services.matters.catalog import CatalogError
    from services.matters.main import build_app, log
    from services.matters.settings import MattersSettings
    from shared.runtime import prepare, serve

    settings = MattersSettings(service="matters")
    prepare(settings)
    try:
        app = build_app(settings, clock=dev_clock(settings.tz))
    except CatalogError as exc:
        log.error("catalog_invalid", error=str(exc))
        raise SystemExit(2) from None
    app.add_middleware(DatedRequests, tz=settings.tz)
    log.warning("development_clock", detail="requests may carry X-Hallnet-Dev-As-Of (hallnet up only)")
    serve(app, settings)


if __name__ == "__main__":
    main()
