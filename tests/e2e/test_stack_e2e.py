"""The whole local federation started as the README does (``hallnet up``), driven over HTTP and NATS."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse as up
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import psutil
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

ROOT = Path(__file__).resolve().parents[2]
SITE = "zhuzhou"
TICKET_FLOW = ["queue.ticket.issued", "queue.ticket.called", "queue.ticket.started", "queue.ticket.completed"]
API = "/queue/api/v1"


def hallnet_argv(state_dir: Path) -> list[str]:
    """The ``hallnet`` console script beside this Python (what ``make demo`` runs), else ``-m hallnet.cli``."""
    script = Path(sys.executable).parent / "hallnet"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "hallnet.cli"]
    return [*head, "up", "--state-dir", str(state_dir), "--sites", f"{SITE},baogai"]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def same_program(pid: int, argv: list[str]) -> bool:
    """``pid`` still runs what was recorded for it (guards the fallback kill against recycled pids)."""
    try:
        cmd = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return bool(cmd) and cmd[1:] == argv[1:]


def kill_recorded(records: list[dict[str, Any]]) -> None:
    """Fallback: stop whatever the stack recorded that is still running (last started first)."""
    left = [r for r in reversed(records) if r.get("pid") and same_program(r["pid"], r.get("argv") or [])]
    for r in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(r["pid"], signal.SIGINT if r.get("name") == "postgres" else signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(alive(r["pid"]) for r in left) and time.monotonic() < deadline:
        time.sleep(0.1)
    for r in left:
        if alive(r["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(r["pid"], signal.SIGKILL)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (FileNotFoundError, json.JSONDecodeError):  # not there yet, or caught mid-write
        return None


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@dataclass
class Hallnet:
    """A running ``hallnet up``: its process, state directory, output file and (once read) its stack.json."""

    proc: subprocess.Popen[bytes]
    state: Path
    out: Path
    doc: dict[str, Any] | None = None

    async def wait_for_stack(self, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (doc := read_json(self.state / "stack.json")) is not None:
                self.doc = doc
                return doc
            assert self.proc.poll() is None, \
                f"hallnet exited with {self.proc.returncode} before writing stack.json:\n{log_tail(self.out)}"
            await asyncio.sleep(0.25)
        raise AssertionError(f"no stack.json after {timeout_s:.0f}s:\n{log_tail(self.out)}")

    def stop_all(self) -> None:
        """SIGTERM, then SIGKILL, hallnet's process group; then whatever it recorded that still runs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        kill_recorded((self.doc or read_json(self.state / "run.json") or {}).get("processes", []))


@contextlib.contextmanager
def one_stack_at_a_time(timeout_s: float = 180.0) -> Iterator[None]:
    """Serialise this test across concurrent pytest sessions on one machine: two ``hallnet up`` starting at
    the same moment both see the preferred ports (15432, 14222, 8101, …) free and collide on them."""
    with open(Path(tempfile.gettempdir()) / "hallnet-e2e.lock", "a+b") as lock:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another hallnet e2e run held {lock.name} for {timeout_s:.0f}s")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def hallnet() -> Iterator[Hallnet]:
    """``hallnet up`` in a fresh state directory, with no DATABASE_URL/NATS_URL: it starts its own servers."""
    with one_stack_at_a_time():
        yield from _hallnet_up()


def _hallnet_up() -> Iterator[Hallnet]:
    # Not tmp_path: under root PostgreSQL runs as another user that must traverse every parent, and a
    # concurrent pytest session may tighten /tmp/pytest-of-<user> back to 0700 while the stack runs.
    tmp = Path(tempfile.mkdtemp(prefix="hallnet-e2e-"))
    tmp.chmod(0o755)
    state, out_path = tmp / "state", tmp / "hallnet.out"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NATS_URL", "HALLNET_CENTRAL_LEAF_URL", "HALLNET_STATE_DIR")}
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(hallnet_argv(state), cwd=ROOT, env=env, stdout=out,  # noqa: S603 - the README's own command, argv list, no shell
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    h = Hallnet(proc, state, out_path)
    try:
        yield h
    finally:
        h.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


async def ticket_events(js: Any, stream: str, ticket_id: str, want: int, timeout_s: float) -> list[Any]:
    """The messages of ``stream`` about ``ticket_id`` in stream order, once ``want`` of them are there."""
    deadline = time.monotonic() + timeout_s
    while True:
        sub = await js.pull_subscribe(f"hall.{SITE}.queue.>", stream=stream,
                                      config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))
        found = []
        try:
            while True:
                try:
                    msgs = await sub.fetch(200, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                for m in msgs:
                    body = json.loads(m.data)
                    if body.get("data", {}).get("ticket_id") == ticket_id:
                        found.append(m)
                    await m.ack()
        finally:
            await sub.unsubscribe()
        if len(found) >= want or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)


def describe(msgs: list[Any]) -> list[tuple[str, str]]:
    return [(m.subject, json.loads(m.data)["type"]) for m in msgs]


async def drive_one_ticket(http: httpx.AsyncClient, site: dict[str, Any]) -> str:
    """Issue a ticket, have an A-role clerk of a window serving its queue call, start and complete it."""
    base = site["services"]["queue"] + API
    windows = (await http.get(f"{base}/windows")).raise_for_status().json()
    matters = (await http.get(f"{base}/matters")).raise_for_status().json()
    clerks = {st["window_no"]: st for st in site["staff"]}
    assert matters and windows and clerks
    served = {p: w["no"] for w in reversed(windows) if w["no"] in clerks for p in w["queues"]}
    matter = next(m for m in matters if m["queue_prefix"] in served)

    r = await http.post(f"{base}/tickets", json={"matter_id": matter["matter_id"]})
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["queue_prefix"] == matter["queue_prefix"] and ticket["status"] == "waiting"

    window_no = served[ticket["queue_prefix"]]
    clerk = clerks[window_no]
    r = await http.post(f"{base}/windows/{window_no}/sign-in",
                        json={"staff_id": clerk["staff_id"], "password": clerk["password"]})
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    for _ in range(20):  # a fresh stack: ours should be the first; anything else is served and skipped
        r = await http.post(f"{base}/windows/{window_no}/call-next", headers=auth)
        assert r.status_code == 200, f"window {window_no} found nobody waiting: {r.status_code} {r.text}"
        if r.json()["id"] == ticket["id"]:
            break
        other = r.json()["id"]
        await http.post(f"{base}/tickets/{other}/start", headers=auth)
        await http.post(f"{base}/tickets/{other}/complete", headers=auth)
    else:
        raise AssertionError(f"window {window_no} never called ticket {ticket['id']}")
    for action in ("start", "complete"):
        r = await http.post(f"{base}/tickets/{ticket['id']}/{action}", headers=auth)
        assert r.status_code == 200, f"{action}: {r.status_code} {r.text}"
    r = await http.get(f"{base}/tickets/{ticket['id']}")
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    return str(ticket["id"])


@pytest.mark.e2e
async def test_hallnet_up_serves_a_ticket_and_federates_its_events(hallnet: Hallnet) -> None:
    """`hallnet up` starts a federation whose ticket events reach site and central streams, and stops cleanly."""
    proc, out_path = hallnet.proc, hallnet.out
    t0 = time.monotonic()
    doc = await hallnet.wait_for_stack(timeout_s=120)
    print(f"stack up in {time.monotonic() - t0:.1f}s")

    # stack.json: what the contract promises
    central = doc["central"]
    assert central["nats_url"].startswith("nats://")
    assert [s["id"] for s in doc["sites"]] == [SITE, "baogai"]
    site = doc["sites"][0]
    assert site["nats_url"] and site["services"]["queue"].startswith("http://")
    assert site["staff"] and all(st["staff_id"] and st["password"] and st["window_no"] for st in site["staff"])
    for url in [central["nats_url"], *(s["nats_url"] for s in doc["sites"])]:
        assert up.urlsplit(url).port != 4222, f"{url}: the system NATS port"
    procs = doc["processes"]
    names = {p["name"] for p in procs}
    assert {"postgres", "nats-central", f"nats-{SITE}", "nats-baogai", f"{SITE}-queue"} <= names, names
    for p in procs:
        assert p["argv"] and alive(p["pid"]), f"{p['name']} (pid {p['pid']}) is not running"
    # the back office (后台): its demo staff in stack.json, its screen on the site's entry, and the matters service
    # run through the development clock (hallnet.devclock) that the simulator's history needs
    departments = {b["department"] for b in site["backoffice"]}
    assert departments and all(b["staff_id"] and b["password"] for b in site["backoffice"]), site["backoffice"]
    assert next(p for p in procs if p["name"] == f"{SITE}-matters")["argv"][-2:] == ["-m", "hallnet.devclock"]
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(site["entry"] + "backoffice")
        assert page.status_code == 200 and "后台办理" in page.text
        bo = site["backoffice"][0]
        r = await http.post(site["services"]["queue"] + f"{API}/staff/sign-in",
                            json={"staff_id": bo["staff_id"], "password": bo["password"]})
        assert r.status_code == 200 and r.json()["department"] == bo["department"], r.text

    async with (
        await nats.connect(site["nats_url"], connect_timeout=5) as site_nc,
        await nats.connect(central["nats_url"], connect_timeout=5) as central_nc,
    ):
        # an ordered consumer on the site stream, started before anything happens
        site_js = site_nc.jetstream()
        live = await site_js.subscribe(f"hall.{SITE}.queue.>", stream=f"HALL_{SITE.upper()}",
                                       ordered_consumer=True,
                                       config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW))
        async with httpx.AsyncClient(timeout=10) as http:
            ticket_id = await drive_one_ticket(http, site)

        seen: list[Any] = []
        deadline = time.monotonic() + 10
        while len(seen) < len(TICKET_FLOW) and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                m = await live.next_msg(timeout=0.5)
                if json.loads(m.data).get("data", {}).get("ticket_id") == ticket_id:
                    seen.append(m)
        await live.unsubscribe()
        assert [json.loads(m.data)["type"] for m in seen] == TICKET_FLOW, describe(seen)
        for m in seen:
            body = json.loads(m.data)
            assert body["site"] == SITE and m.subject == f"hall.{SITE}.{body['type']}", (m.subject, body)
            assert body["data"]["ticket_id"] == ticket_id
            headers = m.headers or {}
            assert headers.get("Nats-Msg-Id") == f"{SITE}:{body['id']}", (body["type"], headers)
            assert headers.get("traceparent", "").startswith("00-"), (body["type"], headers)

        # the same events, in the same order, on the site stream as stored
        stored = await ticket_events(site_js, f"HALL_{SITE.upper()}", ticket_id, len(TICKET_FLOW), 5)
        assert [m.data for m in stored] == [m.data for m in seen], describe(stored)

        # and in CENTRAL, sourced through the leaf connection
        central_js = central_nc.jetstream(domain=central.get("js_domain"))
        sourced = await ticket_events(central_js, central.get("stream", "CENTRAL"), ticket_id,
                                      len(TICKET_FLOW), timeout_s=10)
        assert [json.loads(m.data)["id"] for m in sourced] == [json.loads(m.data)["id"] for m in seen], \
            describe(sourced)
        for m in sourced:
            assert (m.headers or {}).get("Nats-Msg-Id") == f"{SITE}:{json.loads(m.data)['id']}"

        # and in the supervision service's figures (监管中心), which `hallnet up` starts on central
        assert central["entry"] and central["services"]["central"], central
        async with httpx.AsyncClient(base_url=central["services"]["central"], timeout=10) as http:
            deadline = time.monotonic() + 20
            while True:
                r = await http.get(f"/central/api/v1/sites/{SITE}")
                assert r.status_code == 200, r.text
                today = r.json()["today"]
                if today["served"] >= 1 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            assert today["issued"] >= 1 and today["served"] >= 1, today
            assert r.json()["online"] is True, r.json()
            assert (await http.get(central["entry"])).status_code == 200

    # SIGTERM stops hallnet and every process it started
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(proc.wait, 30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"hallnet still runs 30 s after SIGTERM:\n{log_tail(out_path)}") from None
    assert code == 0, f"hallnet exited with {code}:\n{log_tail(out_path)}"
    deadline = time.monotonic() + 5
    while any(alive(p["pid"]) for p in procs) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    left = [f"{p['name']} (pid {p['pid']})" for p in procs if alive(p["pid"])]
    assert not left, f"still running after hallnet stopped: {left}"
