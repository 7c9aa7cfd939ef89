"""asyncpg pool with SQL spans, and a plain-SQL migration runner.

Migrations are files ``NNN_name.sql`` in a package's ``migrations/`` folder, applied in order once
each, under an advisory lock so that two processes starting together do not race.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from typing import Any

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared.tracing import tracer

_tracer = tracer("hallnet.sql")


def _span(query: str) -> Any:
    """A client span for one statement, only inside a recording (exported) trace: SQL is the hot path."""
    if not trace.get_current_span().is_recording():
        return contextlib.nullcontext(_NO_SPAN)
    op = query.lstrip().split(None, 1)[0].upper() if query.strip() else "SQL"
    return _tracer.start_as_current_span(f"sql {op}", kind=SpanKind.CLIENT)


class _NoSpan:
    def set_attribute(self, *_: Any) -> None:
        return None


_NO_SPAN = _NoSpan()


class TracedConnection(asyncpg.Connection):
    """A connection whose queries open an OpenTelemetry client span (``db.statement`` truncated)."""

    async def execute(self, query: str, *args: Any, **kw: Any) -> str:
        with _span(query) as s:
            s.set_attribute("db.statement", query[:300])
            return await super().execute(query, *args, **kw)

    async def executemany(self, command: str, args: Any, **kw: Any) -> None:
        with _span(command) as s:
            s.set_attribute("db.statement", command[:300])
            return await super().executemany(command, args, **kw)

    async def fetch(self, query: str, *args: Any, **kw: Any) -> list[asyncpg.Record]:
        with _span(query) as s:
            s.set_attribute("db.statement", query[:300])
            return await super().fetch(query, *args, **kw)

    async def fetchrow(self, query: str, *args: Any, **kw: Any) -> asyncpg.Record | None:
        with _span(query) as s:
            s.set_attribute("db.statement", query[:300])
            return await super().fetchrow(query, *args, **kw)

    async def fetchval(self, query: str, *args: Any, **kw: Any) -> Any:
        with _span(query) as s:
            s.set_attribute("db.statement", query[:300])
            return await super().fetchval(query, *args, **kw)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, encoder=lambda v: json.dumps(v, ensure_ascii=False), decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=TracedConnection,
        command_timeout=30,
        reset=_no_reset,
    )


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset round trip on every release: our code leaves no session state behind
    (transactions always end, listeners are removed before their connection is released)."""
    return None


async def ensure_database(dsn: str) -> None:
    """Create the database named in ``dsn`` if it does not exist (connecting to ``postgres``)."""
    import urllib.parse as up

    parts = up.urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    admin = up.urlunsplit(parts._replace(path="/postgres"))
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


def _migration_files(package: str) -> list[tuple[str, str]]:
    folder = resources.files(package)
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


async def migrate(pool_or_conn: asyncpg.Pool | asyncpg.Connection, *packages: str) -> list[str]:
    """Apply the migrations of ``packages`` (e.g. ``shared.migrations``) not yet applied; return them."""
    applied: list[str] = []
    conn_ctx = pool_or_conn.acquire() if isinstance(pool_or_conn, asyncpg.Pool) else None
    conn = await conn_ctx.__aenter__() if conn_ctx else pool_or_conn
    try:
        await conn.execute("SELECT pg_advisory_lock(7263001)")
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       component text NOT NULL, name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (component, name))"""
            )
            for package in packages:
                done = {
                    r["name"]
                    for r in await conn.fetch(
                        "SELECT name FROM schema_migrations WHERE component = $1", package
                    )
                }
                for name, sql in _migration_files(package):
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (component, name) VALUES ($1, $2)", package, name
                        )
                    applied.append(f"{package}/{name}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock(7263001)")
    finally:
        if conn_ctx:
            await conn_ctx.__aexit__(None, None, None)
    return applied
