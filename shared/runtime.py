"""The one place a service opens its connections: pool, migrations, bus, streams, outbox relay,
heartbeat and supervised background tasks. Opened in the app's lifespan, closed on SIGTERM.

``service_app`` is every service's bootstrap: it takes the service's build function (which makes the use-case
objects, spawns background tasks and consumers on the runtime, and returns what the routes find on
``app.state``) and its routers, and adds the routes every service has (``health``, ``dead-letters``). A build
that fails, or a runtime that fails half way through starting, is stopped again: nothing is left running."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import nats.errors
from fastapi import APIRouter, FastAPI, Request

from shared import deadletter
from shared.bus import Bus, redact_url
from shared.db import create_pool, ensure_database, migrate
from shared.events.base import make_event
from shared.events.site import SiteHeartbeat
from shared.http import create_app, manager_claims
from shared.logging import configure_logging, get_logger
from shared.outbox import OutboxRelay
from shared.sessions import EndedSessions
from shared.settings import Settings
from shared.tracing import configure_tracing

log = get_logger("runtime")
PROBLEM_S = 120.0  # a reported problem counts for this long after its last report


async def cancel_all(tasks: list[asyncio.Task[None]], timeout_s: float = 5.0) -> None:
    """Cancel tasks and wait for them. A library may swallow one cancellation (asyncpg, nats-py and
    3.11's wait_for each can), so cancel again until every task has ended or the time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {t for t in tasks if not t.done()}
    while pending and loop.time() < deadline:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.2)
    for t in pending:
        log.error("task_would_not_stop", task=t.get_name())
    for t in tasks:
        if t.done() and not t.cancelled():
            with contextlib.suppress(BaseException):
                t.result()


class Runtime:
    def __init__(self, settings: Settings, migrations: list[str], *, follow_sessions: bool = True) -> None:
        self.settings = settings
        # sessions ended at this site: bearer_claims refuses their tokens (central has no clerk tokens)
        self.ended_sessions = EndedSessions()
        self._follow_sessions = follow_sessions
        self.migrations = ["shared.migrations", *migrations]
        self.pool: asyncpg.Pool | None = None
        self.bus = Bus(settings.nats_url, name=f"{settings.site}-{settings.service}",
                       js_domain=settings.js_domain)
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self._health: dict[str, Callable[[], Any]] = {}
        # background tasks (or settings) failing now: name -> (monotonic time of the failure, what failed)
        self._problems: dict[str, tuple[float, str]] = {}

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("runtime not started")
        return self.pool

    async def start(self) -> None:
        s = self.settings
        await ensure_database(s.database_url)
        self.pool = await create_pool(s.database_url, min_size=2, max_size=20)
        applied = await migrate(self.pool, *self.migrations)
        if applied:
            log.info("migrations_applied", migrations=applied)
        delay = 0.2
        while True:
            try:
                await self.bus.connect()
                break
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning("nats_connect_failed", url=redact_url(s.nats_url), error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self.bus.ensure_site_streams(s.site)
        self.relay = OutboxRelay(self.pool, self.bus)
        self.spawn("outbox_relay", self.relay.run)
        self.spawn("heartbeat", self._heartbeat)
        if self._follow_sessions:
            self.spawn("ended_sessions", lambda: self.ended_sessions.follow(self.bus, s.site, pool=self.pool))
        # Everything loaded so far (modules, FastAPI routes, pydantic models) lives as long as the process:
        # keep it out of the collector's full passes, which otherwise stall a busy event loop for tens of ms
        gc.collect()
        gc.freeze()
        log.info("service_started", http=f"http://{s.http_host}:{s.http_port}")

    def spawn(self, name: str, fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``fn`` in the background; restart it (after a pause) if it fails."""

        async def supervised() -> None:
            while True:
                try:
                    await fn()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise asyncio.CancelledError from None
                    log.exception("task_crashed", task=name)
                    self.report_problem(name, f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    def at_stop(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Close ``close`` when the runtime stops (after its tasks, last registered first)."""
        self._closers.append(close)

    def report_problem(self, name: str, what: str) -> None:
        """Something of this service fails (a background loop, a stored setting): health says ``degraded`` with
        ``problems`` (and so does the heartbeat central sees) for the next ``PROBLEM_S`` seconds; a loop that keeps
        failing keeps it so."""
        self._problems[name] = (time.monotonic(), what[:300])

    def problems(self) -> dict[str, str]:
        now = time.monotonic()
        for name in [n for n, (at, _) in self._problems.items() if now - at > PROBLEM_S]:
            del self._problems[name]
        return {name: what for name, (_, what) in self._problems.items()}

    def add_health(self, name: str, report: Callable[[], Any]) -> None:
        """An extra section ``name`` in the health answer (e.g. central's ingest counters)."""
        self._health[name] = report

    async def _heartbeat(self) -> None:
        s = self.settings
        while True:
            with contextlib.suppress(nats.errors.Error, TimeoutError, OSError):
                ok = await self.db_ok() and not self.problems()
                env = make_event(s.site, SiteHeartbeat(services={s.service: "ok" if ok else "degraded"},
                                                       version=s.version))
                await self.bus.publish(env)
            await asyncio.sleep(s.heartbeat_interval_s)

    async def db_ok(self) -> bool:
        try:
            await self.db.fetchval("SELECT 1")
            return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError):
            return False

    async def health(self) -> dict[str, Any]:
        s = self.settings
        db = await self.db_ok()
        nats_ok = self.bus.nc is not None and self.bus.nc.is_connected
        pending = None
        if db:
            pending = await self.db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        problems = self.problems()
        return {
            "status": "ok" if db and nats_ok and not problems else "degraded",
            "site": s.site, "service": s.service, "version": s.version,
            "checks": {"database": db, "nats": nats_ok, "outbox_pending": pending},
            **({"problems": problems} if problems else {}),
            **{name: report() for name, report in self._health.items()},
        }

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        self._tasks.clear()
        while self._closers:
            close = self._closers.pop()
            try:
                await close()
            except Exception:
                log.exception("close_failed", close=getattr(close, "__qualname__", repr(close)))
        if self.relay is not None:
            await self.relay.close()
            # a last flush so that a clean stop leaves nothing behind in the outbox
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.publish_pending(), 3.0)
        await self.bus.close()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        log.info("service_stopped")


# a service's build function: make the use cases on a started runtime, spawn its tasks, register what to close;
# returns the objects the routes find on ``app.state`` (by name)
Build = Callable[[Runtime], Awaitable[dict[str, Any]]]


def service_app(settings: Settings, *, title: str, migrations: Sequence[str], build: Build,
                routers: Sequence[APIRouter], follow_sessions: bool = True,
                configure: Callable[[FastAPI], None] | None = None,
                operator: Callable[..., Awaitable[Any]] = manager_claims) -> FastAPI:
    """A service as an ASGI app: ``/<service>/api/v1/health`` and ``/dead-letters`` (for ``operator``, by default
    the site's duty manager) plus ``routers``; the runtime starts in the lifespan, then ``build`` runs on it; on
    shutdown (or a failed start) everything stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(settings, list(migrations), follow_sessions=follow_sessions)
        app.state.runtime = runtime
        try:
            await runtime.start()
            for name, value in (await build(runtime)).items():
                setattr(app.state, name, value)
            yield
        finally:
            await runtime.stop()

    app = create_app(settings.service, title, settings.version, lifespan=lifespan)
    if configure is not None:
        configure(app)
    prefix = f"/{settings.service}/api/v1"
    health = APIRouter(prefix=prefix)

    @health.get("/health")
    async def health_check(request: Request) -> dict[str, Any]:
        """Database, NATS and outbox state of this service (``status``: ok or degraded)."""
        return await request.app.state.runtime.health()

    app.include_router(health)
    app.include_router(deadletter.router(prefix, operator))
    for router in routers:
        app.include_router(router)
    return app


def prepare(settings: Settings) -> None:
    """Process set-up every service's ``main`` does first: structured logs and tracing for its site."""
    configure_logging(settings.site, settings.service, settings.log_format, settings.log_level)
    configure_tracing(settings.site, settings.service, settings.otel_endpoint)


def serve(app: Any, settings: Settings) -> None:
    """Run a service's app until SIGTERM/SIGINT (uvicorn then runs the lifespan's shutdown: Runtime.stop)."""
    import uvicorn

    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5)
