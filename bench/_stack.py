"""The real stack a benchmark runs against: an embedded PostgreSQL, an embedded nats-server with
JetStream, and the queue service as its own process (``python -m services.queue``), exactly as
``hallnet up`` starts it. Everything started here is stopped by ``BenchStack.stop()``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hallnet.embedded import EmbeddedPostgres, NatsServer, free_port, with_parent_death

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SITE = "benchhall"
PASSWORD = "bench-pw-1234"
QUEUES = ("A", "B", "C")
MATTERS = {"A": "yl-txsq", "B": "yb-ydjy", "C": "gs-rdsb"}


def site_config(windows: int = 40) -> dict[str, Any]:
    """Three queues; window k serves all three, preference order rotated by k (科室柜员制); each
    window has its own A-role clerk ``b001`` … ``b040``."""
    rot = [QUEUES[i:] + QUEUES[:i] for i in range(len(QUEUES))]
    return {
        "site": SITE, "name": "基准测试大厅",
        "policy": {"green_bonus_s": 900, "appointment_bonus_s": 1200, "appointment_early_s": 900,
                   "preference_step_s": 600, "max_calls": 3, "no_show_after_calls": 2, "requeue_positions": 3},
        "queues": [{"prefix": "A", "name": "养老保险", "default_service_s": 300},
                   {"prefix": "B", "name": "医疗保险", "default_service_s": 200},
                   {"prefix": "C", "name": "工伤生育", "default_service_s": 240}],
        "matters": [{"matter_id": "yl-txsq", "name": "企业职工退休申请", "queue": "A"},
                    {"matter_id": "yb-ydjy", "name": "异地就医备案", "queue": "B"},
                    {"matter_id": "gs-rdsb", "name": "工伤认定申报", "queue": "C"}],
        "windows": [{"no": k, "name": f"{k}号窗口", "queues": list(rot[k % len(QUEUES)])}
                    for k in range(1, windows + 1)],
        "staff": [{"staff_id": staff_id(k), "name": f"职员{k}", "password": PASSWORD, "roles": [[k, "A"]]}
                  for k in range(1, windows + 1)],
    }


def staff_id(window_no: int) -> str:
    return f"b{window_no:03d}"


@dataclass
class BenchStack:
    windows: int = 40
    fsync: bool = True  # False: EmbeddedPostgres(fast=True), i.e. fsync/synchronous_commit/full_page_writes off
    keep_dir: bool = False
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hallnet-bench-")))
    pg: EmbeddedPostgres | None = None
    nats: NatsServer | None = None
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def service_db(self) -> str:
        return f"{SITE}_queue"

    @property
    def service_log(self) -> Path:
        return self.root / "queue.log"

    def start(self) -> BenchStack:
        if os.geteuid() == 0:
            self.root.chmod(0o755)  # PostgreSQL runs as embedded_postgres under root
        self.pg = EmbeddedPostgres(self.root / "pg", fast=not self.fsync, log_file=self.root / "pg.log")
        self.pg.start()
        self.nats = NatsServer(store_dir=self.root / "nats", name="bench", log_file=self.root / "nats.log")
        self.nats.start()
        seed = self.root / "site.json"
        seed.write_text(json.dumps(site_config(self.windows), ensure_ascii=False), encoding="utf-8")
        self.port = free_port()
        env = {**os.environ,
               "HALLNET_SITE": SITE, "HALLNET_SITE_NAME": "基准测试大厅", "HALLNET_SERVICE": "queue",
               "NATS_URL": self.nats.url, "DATABASE_URL": self.pg.dsn(self.service_db),
               "HALLNET_HTTP_HOST": "127.0.0.1", "HALLNET_HTTP_PORT": str(self.port),
               "HALLNET_TOKEN_SECRET": "bench-secret-" + os.urandom(8).hex(), "HALLNET_SEED_FILE": str(seed),
               "HALLNET_ENFORCE_OFFICE_HOURS": "false", "HALLNET_LOG_LEVEL": "warning",
               "HALLNET_LOG_FORMAT": "json"}
        with open(self.service_log, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603  (our own service, argv list, no shell)
                with_parent_death([sys.executable, "-m", "services.queue"]), cwd=PROJECT_ROOT, env=env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_healthy()
        return self

    def _wait_healthy(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        url = f"{self.base_url}/queue/api/v1/health"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"queue service exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    r = http.get(url)
                    if r.status_code == 200:
                        return
                    last = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.2)
        raise TimeoutError(f"queue service not healthy after {timeout_s}s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.service_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Service first, then NATS, then PostgreSQL; each step runs even if an earlier one failed."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        finally:
            try:
                if self.nats is not None:
                    self.nats.stop()
            finally:
                if self.pg is not None:
                    self.pg.stop()
                if not self.keep_dir:
                    shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BenchStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
