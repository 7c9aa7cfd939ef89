"""Real servers for the tests: existing ones when DATABASE_URL / NATS_URL are set, testcontainers when a
Docker engine answers, otherwise the embedded wheels (PostgreSQL and nats-server, no system install)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.parse as up
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallnet.embedded import EmbeddedPostgres, NatsServer


@dataclass
class Servers:
    pg_admin_url: str  # a DSN to the 'postgres' database of the server
    nats_url: str
    kind: str
    nats: NatsServer | None = None
    _stoppers: list[Any] = field(default_factory=list)

    def dsn(self, database: str) -> str:
        parts = up.urlsplit(self.pg_admin_url)
        return up.urlunsplit(parts._replace(path=f"/{database}"))


def _docker_answers() -> bool:
    if os.environ.get("HALLNET_TEST_DOCKER", "auto") == "off":
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001  (any failure means: no engine to use)
        return False


@contextlib.contextmanager
def start_servers() -> Iterator[Servers]:
    db_env, nats_env = os.environ.get("DATABASE_URL"), os.environ.get("NATS_URL")
    stack = contextlib.ExitStack()
    with stack:
        tmp = Path(tempfile.mkdtemp(prefix="hallnet-test-"))
        pg_url = db_env
        nats_url = nats_env
        kind = "existing"
        nats_proc = None
        if (pg_url is None or nats_url is None) and _docker_answers():
            from testcontainers.core.container import DockerContainer
            from testcontainers.postgres import PostgresContainer

            kind = "testcontainers"
            if pg_url is None:
                pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
                pg_url = pg.get_connection_url()
            if nats_url is None:
                container = DockerContainer("nats:2.10-alpine").with_command("-js").with_exposed_ports(4222)
                nc = stack.enter_context(container)
                nats_url = f"nats://{nc.get_container_host_ip()}:{nc.get_exposed_port(4222)}"
        if pg_url is None:
            kind = "embedded"
            epg = EmbeddedPostgres(tmp / "pg", fast=True).start()
            stack.callback(epg.stop)
            pg_url = epg.url
        if nats_url is None:
            kind = "embedded"
            nats_proc = NatsServer(store_dir=tmp / "js").start()
            stack.callback(nats_proc.stop)
            nats_url = nats_proc.url
        parts = up.urlsplit(pg_url)
        admin = up.urlunsplit(parts._replace(path="/postgres"))
        yield Servers(pg_admin_url=admin, nats_url=nats_url, kind=kind, nats=nats_proc)


async def wait_healthy(url: str, service: str, proc: Any, timeout_s: float = 30.0) -> None:
    """Wait until a service process answers ``GET <url>/<service>/api/v1/health`` (fail fast if it exits)."""
    import asyncio

    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout_s * 10)):
            assert proc.poll() is None, f"{service} service exited"
            try:
                if (await client.get(f"{url}/{service}/api/v1/health", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{service} service not healthy")
