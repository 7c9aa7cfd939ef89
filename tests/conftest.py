"""Fixtures shared by every test: real PostgreSQL and NATS for the session, a fresh database and a
fresh site id (so fresh streams and subjects) for each test."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from shared.logging import configure_logging
from shared.tracing import configure_tracing
from tests.harness import Servers, start_servers

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    configure_logging("test", "tests", "json", "warning")
    configure_tracing("test", "tests", None)  # real spans (no exporter) so traceparent is propagated
    with start_servers() as s:
        yield s


@pytest.fixture
def site() -> str:
    """A site id of its own for each test: its own stream, subjects and consumers."""
    return "t" + secrets.token_hex(4)


@pytest.fixture
async def database_url(servers: Servers, site: str) -> AsyncIterator[str]:
    name = f"test_{site}"
    admin = await asyncpg.connect(servers.pg_admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield servers.dsn(name)
    admin = await asyncpg.connect(servers.pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
