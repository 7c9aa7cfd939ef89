"""FastAPI conventions of every service: prefix ``/<service>``, JSON errors with a message, one log
line and one server span per request, bearer clerk tokens."""

from __future__ import annotations

import re
import time
import types
import typing
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import ClerkClaims, InvalidToken, verify_token
from shared.errors import Forbidden, HallnetError, Unauthorized
from shared.logging import get_logger
from shared.tracing import extract_context, tracer

log = get_logger("http")
_tracer = tracer("hallnet.http")

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 409: "conflict", 422: "unprocessable", 429: "too_many_requests"}


# C0 control characters and DEL, but tab, line feed and carriage return (a citizen's note may have lines).
# PostgreSQL refuses NUL in text, and none of them belongs in an id, a name or a query parameter.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
URL_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# the years a hall's records and calendars can be about: dates outside are a typo or a probe, never a case
FIRST_YEAR, LAST_YEAR = 2000, 2099


def sane_date(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"日期须在{FIRST_YEAR}–{LAST_YEAR}年之间 / the date must be within {FIRST_YEAR}–{LAST_YEAR}")
    return value


# a window number (窗口号) in a path: the column is an integer; a hall has fewer than ten thousand windows
WindowNo = Annotated[int, PathParam(ge=1, le=9999, description="窗口号 / window number")]
# a bigserial id in a path (alerts, dead letters)
RowId = Annotated[int, PathParam(ge=1, le=2**63 - 1)]
# a date parameter or field of any call (path, query or body)
SaneDate = Annotated[date, AfterValidator(sane_date)]
Year = Annotated[int, Field(ge=FIRST_YEAR, le=LAST_YEAR)]


def refuse_control_chars(value: str) -> str:
    """The one rule for text at the edge: no control characters (NUL would even reach PostgreSQL as a 500)."""
    if CONTROL_CHARS.search(value):
        raise ValueError("不能包含控制字符 / must not contain control characters")
    return value


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def error_body(status: int, code: str, message: str, **detail: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail:
        body["detail"] = detail
    return body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HallnetError)
    async def _hallnet(_: Request, exc: HallnetError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message, **exc.detail), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        parts = [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors[:5]]
        fields = [
            {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors[:20]
        ]
        return JSONResponse(
            error_body(422, "invalid_input", "输入有误 / invalid input: " + "; ".join(parts), fields=fields),
            status_code=422,
        )

    @app.exception_handler(asyncpg.DataError)
    async def _data(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # the last net under the edge's own checks: a value the database cannot take (out of its column's range,
        # a character it cannot store) is the caller's input, never a server error
        log.warning("input_refused_by_database", error=type(exc).__name__)
        return JSONResponse(error_body(422, "invalid_input", "输入超出允许范围或含有无效字符 / a value is out of "
                                                             "range or has characters that cannot be stored"),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names the methods of the first route of that path only; a path served by several routes
            # (GET and POST /staff) allows all of theirs, and OPTIONS asks exactly that
            allow = ", ".join(allowed_methods(app, request.scope))
            if request.method == "OPTIONS":
                return Response(status_code=204, headers={"Allow": allow})
            headers = {**(headers or {}), "Allow": allow}
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(exc.status_code, code, str(exc.detail)), status_code=exc.status_code,
                            headers=headers)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    path = scope["path"]
    methods = {"OPTIONS"}
    for route in _routes(app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _routes(routes: Any) -> Iterator[Any]:
    """Every route, also those of included routers (FastAPI keeps them behind the router that includes them)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        else:
            yield route


class ObserveRequests:
    """One server span and one summary log line per request, as a pure ASGI middleware (Starlette's
    BaseHTTPMiddleware costs a task group and a body copy per request); an unhandled error becomes a JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route, method = scope["path"], scope["method"]
        if URL_CONTROL_CHARS.search(route) or URL_CONTROL_CHARS.search(
                urllib.parse.unquote(scope.get("query_string", b"").decode("latin-1"))):
            await JSONResponse(error_body(400, "bad_request", "请求地址含有控制字符 / control characters in the URL"),
                               status_code=400)(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
            await send(message)

        with _tracer.start_as_current_span(f"{method} {route}", context=extract_context(headers),
                                           kind=SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                log.exception("http_unhandled", method=method, path=route)
                if response_started:
                    raise
                status = 500
                await JSONResponse(error_body(500, "internal", "服务器内部错误 / internal error"),
                                   status_code=500)(scope, receive, send)
            span.set_attribute("http.status_code", status)
        if not route.endswith("/health") and not route.endswith("/stream"):
            log.info("http_request", method=method, path=route, status=status,
                     ms=round((time.perf_counter() - started) * 1000, 2))


def install_request_middleware(app: FastAPI) -> None:
    app.add_middleware(ObserveRequests)


def create_app(service: str, title: str, version: str, lifespan: Any = None) -> FastAPI:
    app = FastAPI(
        # our own ObserveRequests makes the one server span and log line per request; FastAPI's native
        # telemetry would add a second span, metrics and log records to every request
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title=title,
        version=version,
        lifespan=lifespan,
        openapi_url=f"/{service}/openapi.json",
        docs_url=f"/{service}/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    install_request_middleware(app)
    document_errors(app)
    return app


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "a code: the kind (not_found, conflict…) or the rule broken"},
        "message": {"type": "string", "description": "what went wrong, Chinese first, then English"},
        "detail": {"type": "object", "description": "more about it (e.g. fields: [{field, message}])"},
    },
}
# every error the edge answers is {error, message, detail?}; which of these a call can answer depends on its
# parameters and its tokens, so each operation documents them all, with the one body we really send
ERROR_STATUSES = {400: "bad request (e.g. control characters in the URL)", 401: "no token, or an ended session",
                  403: "a token without the right", 404: "not found", 409: "a rule of the hall refuses it now",
                  422: "invalid input", 429: "too many requests (Retry-After)"}


def document_errors(app: FastAPI) -> None:
    """The OpenAPI of ``app`` tells the truth about errors: FastAPI's default 422 body (HTTPValidationError) is
    replaced by the ``Error`` body this module sends, and every operation lists the error statuses."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Error"] = ERROR_SCHEMA
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for item in schema.get("paths", {}).values():
            for op in item.values():
                responses = op.setdefault("responses", {})
                for status, text in ERROR_STATUSES.items():
                    responses[str(status)] = {"description": text, "content": body}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema


def bearer_claims(request: Request, secret: str, site: str) -> ClerkClaims:
    """The clerk claims of ``Authorization: Bearer <token>`` (401 when absent, invalid, or of a session ended
    at this site: shared/sessions.py)."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        raise Unauthorized("需要窗口登录令牌 / a clerk token is required (Authorization: Bearer …)")
    try:
        claims = verify_token(secret, auth[7:].strip(), site=site)
    except InvalidToken as exc:
        raise Unauthorized(f"令牌无效 / invalid token: {exc}") from exc
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None and claims.session_id in runtime.ended_sessions:
        raise Unauthorized("登录已失效，请重新登录 / this session has ended (signed out): sign in again")
    return claims


class StrictIn(BaseModel):
    """Base of every request body: unknown fields refused (a typo is an error, not a silent default), text trimmed,
    no control characters in any text (``refuse_control_chars``), booleans only as JSON booleans."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _booleans_are_booleans(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, f in cls.model_fields.items():
                value = data.get(f.alias or name)
                if value is not None and _is_bool_field(f.annotation) and not isinstance(value, bool):
                    raise ValueError(f"{name}: 须为 true 或 false / must be true or false")
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_chars(cls, value: Any) -> Any:
        for text in _texts(value):
            refuse_control_chars(text)
        return value


def _is_bool_field(annotation: Any) -> bool:
    return annotation is bool or (typing.get_origin(annotation) in (types.UnionType, typing.Union)
                                  and bool in typing.get_args(annotation))


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    return []


def state_dependency(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A FastAPI dependency answering ``request.app.state.<name>`` (the use-case object the bootstrap made).
    Async on purpose: a plain def would run in FastAPI's thread pool on every request."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"{name}_of"
    return dependency


async def clerk_claims(request: Request) -> ClerkClaims:
    """FastAPI dependency: the clerk or manager claims of the request's bearer token, checked against this
    service's secret and site (``bearer_claims``)."""
    s = request.app.state.runtime.settings
    return bearer_claims(request, s.token_secret, s.site)


async def manager_claims(request: Request) -> ClerkClaims:
    """FastAPI dependency: a duty manager's token of this site (401 without a valid one, 403 for another role)."""
    claims = await clerk_claims(request)
    if claims.role != "manager":
        raise Forbidden("需要值班长权限 / a duty manager's token is required")
    return claims
