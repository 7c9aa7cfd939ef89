"""Process plumbing for ``hallnet up``: supervised children with their logs, port picking, the demo
secrets file and the waits for a port or a health check. ``hallnet.stack`` builds the federation on them.

Every child runs in its own session (Ctrl-C reaches only ``hallnet``) and, on Linux, gets SIGTERM if
``hallnet`` itself dies.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse as up
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hallnet import natsconf
from hallnet.embedded import free_port, with_parent_death

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """A part of the federation did not start or answer."""


# --- ports, secrets ------------------------------------------------------------------------------
class Ports:
    """Hands out preferred ports when they are free, other free ports otherwise, never one twice."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    @staticmethod
    def is_free(port: int, host: str = "127.0.0.1") -> bool:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves do
            try:
                s.bind((host, port))
            except OSError:
                return False
        return True

    def pick(self, preferred: int | None = None) -> int:
        if preferred and preferred not in self.taken and self.is_free(preferred):
            port = preferred
        else:
            port = free_port()
            while port in self.taken:
                port = free_port()
        self.taken.add(port)
        return port


def load_secrets(path: Path, sites: Iterable[str]) -> dict[str, Any]:
    """Demo credentials, generated once and kept (mode 0600) in the state directory."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    central = data.setdefault("central", {})
    central.setdefault("hallnet_password", natsconf.new_password())
    central.setdefault("token_secret", natsconf.new_password() + natsconf.new_password())
    central.setdefault("supervisor_user", "jg001")  # 监管员, demo account of the central wall
    central.setdefault("supervisor_password", "jg001pw")
    for site in sites:
        entry = data.setdefault("sites", {}).setdefault(site, {})
        entry.setdefault("leaf_password", natsconf.new_password())
        entry.setdefault("local_password", natsconf.new_password())
        entry.setdefault("token_secret", natsconf.new_password() + natsconf.new_password())
        entry.setdefault("data_key", base64.b64encode(os.urandom(32)).decode())
        entry.setdefault("notify_key", base64.b64encode(os.urandom(32)).decode())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)
    return data


# --- child processes -----------------------------------------------------------------------------
@dataclass
class Child:
    """A supervised child process with its log file; ``record()`` is its stack.json entry."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # added to os.environ
    cwd: Path = PROJECT_ROOT
    tier: int = 3  # stop order: higher tiers stop first
    port: int | None = None
    health_url: str | None = None
    restarts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    stopping: bool = False

    def start(self) -> Child:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                with_parent_death(self.argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.cwd, env={**os.environ, **self.env}, start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        self.stopping = True
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    async def wait_stopped(self, timeout_s: float) -> None:
        if self.proc is None:
            return
        try:
            await asyncio.to_thread(self.proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"name": self.name, "pid": self.pid, "argv": self.argv, "cwd": str(self.cwd),
                               "log": str(self.log)}
        if self.env:
            rec["env"] = self.env
        return rec


async def wait_port(child: Child, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise StackError(f"{child.name} exited before listening on {port}:\n{child.log_tail()}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.05)
    raise StackError(f"{child.name}: nothing listens on {port} after {timeout_s:.0f}s:\n{child.log_tail()}")


async def wait_healthy(child: Child, timeout_s: float = 60.0) -> None:
    """Poll ``child.health_url`` until it answers 200; fail with the log tail if it never does."""
    assert child.health_url
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if not child.alive():
                raise StackError(f"{child.name} exited (code {child.proc.returncode if child.proc else '?'}) "
                                 f"before answering {child.health_url}; log tail:\n{child.log_tail()}")
            try:
                r = await http.get(child.health_url)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            await asyncio.sleep(0.3)
    raise StackError(f"{child.name} did not answer {child.health_url} within {timeout_s:.0f}s ({last}); "
                     f"log tail:\n{child.log_tail()}")


async def stop_children(children: list[Child], timeout_s: float = 10.0) -> None:
    """SIGTERM each tier (highest first), wait, SIGKILL whatever is left after ``timeout_s``."""
    for tier in sorted({c.tier for c in children}, reverse=True):
        group = [c for c in children if c.tier == tier]
        for c in group:
            c.terminate()
        await asyncio.gather(*(c.wait_stopped(timeout_s) for c in group))


# --- how a service of a site is started ------------------------------------------------------------
def service_module(name: str) -> str:
    """The module ``hallnet up`` runs for a service: ``services.<name>``, except the matters service, which runs
    through ``hallnet.devclock`` (the same app; a request may be dated in the past, so the demo can hold cases
    accepted days ago and show their yellow and red cards: development only, see that module)."""
    return "hallnet.devclock" if name == "matters" else f"services.{name}"


def database_url(base: str | None, pg_port: int | None, database: str) -> str:
    """Per-service database on the embedded server, or substituted into the path of ``base``."""
    if base:
        return up.urlunsplit(up.urlsplit(base)._replace(path=f"/{database}"))
    return f"postgresql://postgres@127.0.0.1:{pg_port}/{database}"


def service_env(*, site: str, site_name: str, service: str, nats_url: str, db_url: str, port: int,
                token_secret: str, seed_file: Path, data_key: str = "", notify_key: str = "") -> dict[str, str]:
    env = {
        "HALLNET_SITE": site, "HALLNET_SITE_NAME": site_name, "HALLNET_SERVICE": service,
        "NATS_URL": nats_url, "DATABASE_URL": db_url,
        "HALLNET_HTTP_HOST": "127.0.0.1", "HALLNET_HTTP_PORT": str(port),
        "HALLNET_TOKEN_SECRET": token_secret, "HALLNET_SEED_FILE": str(seed_file),
        "HALLNET_ENFORCE_OFFICE_HOURS": "false", "HALLNET_LOG_FORMAT": "json",
        "HALLNET_DEV_MODE": "true",  # the local demo federation: honours a test clock (shared/clock.py)
    }
    if service == "ratings":  # behind the site gateway: the client's address is the last X-Forwarded-For entry
        env["HALLNET_RATINGS_TRUST_FORWARDED_FOR"] = "true"
    if data_key:  # keys for personal data at rest (per site, from secrets.json): applicants, phone numbers
        env["HALLNET_MATTERS_DATA_KEY"] = data_key
        env["HALLNET_NOTIFY_DATA_KEY"] = notify_key or data_key
        env["HALLNET_RATINGS_DATA_KEY"] = data_key  # citizens' rating texts (差评 words)
    return env
