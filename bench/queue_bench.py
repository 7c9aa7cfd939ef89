"""Queue service benchmark against the real stack (``make bench`` / ``python -m bench.queue_bench``).

Starts an embedded PostgreSQL (fsync on by default, as ``hallnet up`` runs it), an embedded
nats-server with JetStream and ``python -m services.queue`` as a subprocess with a 40-window,
3-queue site, then measures:

1. ticket issue throughput: POST /tickets from many concurrent HTTP clients;
2. call-next latency over HTTP with every window calling in parallel (closed loop: call-next, timed,
   then complete, not timed, no pause); the same at one window alone (no queueing); and, for
   information, all windows with calls arriving at random at a steady rate (``--paced-rate``);
3. the bare calling SQL statement, on the same PostgreSQL, in a separate database holding the same
   waiting tickets and an index that fits the statement's order (``BARE_INDEX``), with as many
   concurrent connections as windows; and the HTTP/SQL ratio.

It checks that no ticket was called twice, prints the machine, and stops everything it started.
The load generator runs on the same (small) machine and competes for the CPU; CPU time used by
each process is printed per phase so the reader can see where the cores went. ``--client raw``
replaces httpx by a minimal HTTP/1.1 client to take most of the load generator's CPU out of the
picture. Results and findings: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import asyncpg
import httpx
import psutil

from bench._stack import MATTERS, PASSWORD, PROJECT_ROOT, BenchStack, staff_id
from hallnet.embedded import postgres_bin_dir

API = "/queue/api/v1"
BARE_DB = "bench_bare_sql"
BARE_CALL_SQL = """UPDATE tickets SET status = 'called', window_no = $1, called_at = now()
WHERE id = (SELECT id FROM tickets WHERE queue_id = ANY($2) AND status = 'waiting'
            ORDER BY sort_ts, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, number"""
# The index a DBA would give the bare statement: its FIFO order across the window's queues, waiting tickets only.
# Without it every execution sorts all waiting tickets (the service's own indexes are per queue and calling
# group), which made the bare statement 5-15x slower and flattered the HTTP/SQL ratio (sessions 1-3).
BARE_INDEX = "CREATE INDEX bare_fifo ON tickets (sort_ts, seq) WHERE status = 'waiting'"
BARE_COMPLETE_SQL = "UPDATE tickets SET status = 'done', finished_at = now() WHERE id = $1"

TARGET_ISSUE_PER_S = 500.0
TARGET_CALL_P99_MS = 25.0
TARGET_RATIO_P50 = 5.0


# --- helpers ----------------------------------------------------------------------------------------
def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values`` (ms)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(lat_ms: list[float]) -> dict[str, float]:
    return {"n": len(lat_ms), "p50": pct(lat_ms, 50), "p90": pct(lat_ms, 90), "p99": pct(lat_ms, 99),
            "max": max(lat_ms) if lat_ms else float("nan"),
            "mean": statistics.fmean(lat_ms) if lat_ms else float("nan")}


def fmt_lat(s: dict[str, float]) -> str:
    return (f"p50 {s['p50']:6.2f} ms  p90 {s['p90']:6.2f} ms  p99 {s['p99']:6.2f} ms  "
            f"max {s['max']:7.2f} ms  (n={int(s['n'])})")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


class CpuMeter:
    """CPU seconds used by the service, PostgreSQL (postmaster + backends), nats-server and this process."""

    def __init__(self, stack: BenchStack) -> None:
        assert stack.proc and stack.pg and stack.pg.proc and stack.nats and stack.nats.proc
        self.procs = {"service": psutil.Process(stack.proc.pid), "postgres": psutil.Process(stack.pg.proc.pid),
                      "nats": psutil.Process(stack.nats.proc.pid)}
        self._start: dict[str, float] = {}
        self._wall = 0.0

    def _sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, p in self.procs.items():
            total = 0.0
            group = [p] + (p.children(recursive=True) if name == "postgres" else [])
            for q in group:
                try:
                    t = q.cpu_times()
                    total += t.user + t.system
                    if name == "postgres" and q is p:
                        total += t.children_user + t.children_system  # backends that already exited
                except psutil.NoSuchProcess:
                    pass
            out[name] = total
        r = resource.getrusage(resource.RUSAGE_SELF)
        out["load generator"] = r.ru_utime + r.ru_stime
        return out

    def start(self) -> None:
        self._start = self._sample()
        self._wall = time.perf_counter()

    def stop(self) -> tuple[float, dict[str, float]]:
        end = self._sample()
        wall = time.perf_counter() - self._wall
        return wall, {k: end[k] - self._start.get(k, 0.0) for k in end}


def fmt_cpu(wall: float, used: dict[str, float], per: int, unit: str) -> str:
    parts = [f"{k} {v / wall * 100:4.0f}% ({v / per * 1000:.2f} ms/{unit})" for k, v in used.items()]
    total = sum(used.values()) / wall * 100
    return f"    CPU (100% = one core; {os.cpu_count()} cores): " + ", ".join(parts) + f"; total {total:.0f}%"


def machine() -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = f"{psutil.virtual_memory().total / 2**30:.1f} GiB"
    try:
        pg = subprocess.run([str(postgres_bin_dir() / "postgres"), "--version"], capture_output=True,  # noqa: S603 - the embedded postgres binary, argv list
                            text=True, check=False).stdout.strip()
    except OSError:
        pg = "?"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,  # noqa: S607 - git from PATH, only to print the commit
                             cwd=PROJECT_ROOT, check=False).stdout.strip()
    except OSError:
        rev = ""
    return {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "code": f"git {rev or '?'}",
            "cpus": f"{len(os.sched_getaffinity(0))} (nproc), {model}", "ram": ram,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "kernel": platform.release(), "postgres": pg}


# --- HTTP clients -----------------------------------------------------------------------------------
@dataclass
class Resp:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class HttpxClient:
    """The default load generator: one httpx.AsyncClient with an HTTP/1.1 keep-alive pool."""

    name = "httpx"

    def __init__(self, base_url: str, size: int) -> None:
        # keep-alive expiry below uvicorn's 5 s: never reuse a connection the server is closing
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=2.0)
        self._c = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0)

    async def post(self, path: str, json_body: Any = None, headers: dict[str, str] | None = None) -> Resp:
        r = await self._c.post(path, json=json_body, headers=headers)
        return Resp(r.status_code, r.content)

    async def aclose(self) -> None:
        await self._c.aclose()


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (same requests on the wire as httpx,
    about a tenth of its CPU), to show how much of the figures is the load generator's own CPU."""

    name = "raw"

    def __init__(self, base_url: str, size: int) -> None:
        u = httpx.URL(base_url)
        self.host, self.port = u.host, u.port or 80
        self._sem = asyncio.Semaphore(size)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def _conn(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = time.monotonic()
        while self._idle:
            r, w, since = self._idle.pop()
            if now - since < 2.0 and not r.at_eof():
                return r, w
            w.close()
        return await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, json_body: Any = None, headers: dict[str, str] | None = None) -> Resp:
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if json_body is not None:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        async with self._sem:
            r, w = await self._conn()
            try:
                w.write(data)
                status_line = await r.readline()
                if not status_line:
                    raise ConnectionError("server closed the connection")
                status = int(status_line.split(b" ", 2)[1])
                length, close = 0, False
                while (line := await r.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                content = await r.readexactly(length) if length else b""
            except BaseException:
                w.close()
                raise
            if close:
                w.close()
            else:
                self._idle.append((r, w, time.monotonic()))
            return Resp(status, content)

    async def aclose(self) -> None:
        for _, w, _ in self._idle:
            w.close()
        self._idle.clear()


Client = HttpxClient | RawClient


# --- phases -----------------------------------------------------------------------------------------
@dataclass
class IssueResult:
    n: int
    elapsed_s: float
    lat_ms: list[float]
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.n / self.elapsed_s


async def issue_tickets(http: Client, n: int, concurrency: int) -> IssueResult:
    matters = list(MATTERS.values())
    next_i = 0
    lat: list[float] = []
    errors: dict[int, int] = {}

    async def worker() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t0 = time.perf_counter()
            r = await http.post(f"{API}/tickets", {"matter_id": matters[i % len(matters)]})
            lat.append((time.perf_counter() - t0) * 1000)
            if r.status_code != 201:
                errors[r.status_code] = errors.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return IssueResult(n, time.perf_counter() - t0, lat, errors)


async def sign_in_all(http: Client, windows: int) -> dict[int, dict[str, str]]:
    async def one(no: int) -> tuple[int, dict[str, str]]:
        r = await http.post(f"{API}/windows/{no}/sign-in", {"staff_id": staff_id(no), "password": PASSWORD})
        if r.status_code != 200:
            raise RuntimeError(f"sign-in of window {no} failed: {r.status_code} {r.text}")
        return no, {"Authorization": f"Bearer {r.json()['token']}"}

    return dict(await asyncio.gather(*(one(no) for no in range(1, windows + 1))))


@dataclass
class CallResult:
    calls: int
    elapsed_s: float
    lat_ms: list[float]
    ids: list[str]
    errors: dict[str, int]
    rounds: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.calls / self.elapsed_s


Call = Callable[[int], Awaitable[str | None]]
Complete = Callable[[int, str], Awaitable[None]]


class _Calls:
    """Latencies of timed calls, the ids they returned, and errors (counted, the run goes on)."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.ids: list[str] = []
        self.errors: dict[str, int] = {}
        self.rounds: list[float] = []  # burst(): how long each round took until its slowest call answered

    def error(self, what: str, exc: Exception) -> None:
        key = f"{what}: {type(exc).__name__}: {str(exc)[:80]}"
        self.errors[key] = self.errors.get(key, 0) + 1

    async def call(self, no: int, call: Call) -> str | None | Exception:
        """One timed call: the ticket id, None when nobody was waiting, or the error (counted, not timed)."""
        t0 = time.perf_counter()
        try:
            tid = await call(no)
        except Exception as exc:  # noqa: BLE001 - a failed request is counted as an error, not fatal
            self.error("call", exc)
            return exc
        self.lat.append((time.perf_counter() - t0) * 1000)
        if tid is not None:
            self.ids.append(tid)
        return tid

    async def complete(self, no: int, tid: str, complete: Complete) -> None:
        try:
            await complete(no, tid)
        except Exception as exc:  # noqa: BLE001 - a failed request is counted as an error, not fatal
            self.error("complete", exc)

    async def one(self, no: int, call: Call, complete: Complete) -> bool:
        """call (timed) then complete (not timed); False when nobody was waiting."""
        tid = await self.call(no, call)
        if isinstance(tid, str):
            await self.complete(no, tid, complete)
        return tid is not None

    def result(self, elapsed_s: float) -> CallResult:
        return CallResult(len(self.ids), elapsed_s, self.lat, self.ids, self.errors, self.rounds)


async def closed_loop(windows: list[int], total: int, call: Call, complete: Complete) -> CallResult:
    """One loop per window, no pause: call (timed) then complete (not timed), until ``total`` calls."""
    started = 0
    acc = _Calls()

    async def loop(no: int) -> None:
        nonlocal started
        while started < total:
            started += 1
            if not await acc.one(no, call, complete):
                return

    t0 = time.perf_counter()
    await asyncio.gather(*(loop(no) for no in windows))
    return acc.result(time.perf_counter() - t0)


async def burst(windows: list[int], rounds: int, pause_s: float, call: Call, complete: Complete) -> CallResult:
    """Every window presses call-next at the same instant (each call timed); when all have answered,
    every window completes its ticket (not timed); ``pause_s`` later the next round. The slowest of the
    simultaneous calls of each round is what the p99 sees."""
    acc = _Calls()
    busy = 0.0
    for _ in range(rounds):
        r0 = time.perf_counter()
        tids = await asyncio.gather(*(acc.call(no, call) for no in windows))
        busy += time.perf_counter() - r0
        acc.rounds.append((time.perf_counter() - r0) * 1000)
        await asyncio.gather(*(acc.complete(no, tid, complete) for no, tid in zip(windows, tids, strict=True)
                               if isinstance(tid, str)))
        if any(tid is None for tid in tids):
            break
        await asyncio.sleep(pause_s)
    return acc.result(busy)


async def paced(windows: list[int], total: int, rate: float, call: Call, complete: Complete) -> CallResult:
    """Open loop: calls arrive at random (Poisson) times at ``rate`` per second, each at a window that
    is not busy with its previous call/complete; latency is timed from when the call is sent."""
    rnd = random.Random(20261121)
    free: asyncio.Queue[int] = asyncio.Queue()
    for no in windows:
        free.put_nowait(no)
    acc = _Calls()

    async def one(no: int) -> None:
        try:
            await acc.one(no, call, complete)
        finally:
            free.put_nowait(no)

    loop = asyncio.get_running_loop()
    tasks = []
    t0 = due = loop.time()
    for _ in range(total):
        due += rnd.expovariate(rate)
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(asyncio.create_task(one(await free.get())))
    await asyncio.gather(*tasks)
    return acc.result(loop.time() - t0)


def http_ops(http: Client, tokens: dict[int, dict[str, str]]) -> tuple[Call, Complete]:
    async def call(no: int) -> str | None:
        r = await http.post(f"{API}/windows/{no}/call-next", headers=tokens[no])
        if r.status_code == 204:
            return None
        if r.status_code != 200:
            raise RuntimeError(f"call-next {r.status_code}: {r.text[:120]}")
        return str(r.json()["id"])

    async def complete(no: int, tid: str) -> None:
        r = await http.post(f"{API}/tickets/{tid}/complete", headers=tokens[no])
        if r.status_code != 200:
            raise RuntimeError(f"complete {r.status_code}: {r.text[:120]}")

    return call, complete


async def window_queue_ids(dsn: str) -> dict[int, list[Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["no"]: list(r["queue_ids"]) for r in await conn.fetch("SELECT no, queue_ids FROM windows")}
    finally:
        await conn.close()


async def prepare_bare_db(admin_dsn: str, bare_dsn: str, service_dsn: str) -> int:
    """A fresh database with the queue service's own schema (its migration file), holding a copy of
    the service's waiting tickets as they are before calling starts. Returns the waiting count."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{BARE_DB}"')
        await admin.execute(f'CREATE DATABASE "{BARE_DB}"')
    finally:
        await admin.close()
    src = await asyncpg.connect(service_dsn)
    dst = await asyncpg.connect(bare_dsn)
    try:
        schema = resources.files("services.queue.migrations").joinpath("001_queue.sql").read_text(encoding="utf-8")
        await dst.execute(schema)
        cols = [r["column_name"] for r in await src.fetch(
            """SELECT column_name FROM information_schema.columns WHERE table_name = 'tickets'
               ORDER BY ordinal_position""")]
        queues = await src.fetch("SELECT id, prefix, name, hall, default_service_s, active FROM queues")
        await dst.copy_records_to_table("queues", records=[tuple(r) for r in queues],
                                        columns=["id", "prefix", "name", "hall", "default_service_s", "active"])
        rows = await src.fetch(f"SELECT {', '.join(cols)} FROM tickets WHERE status = 'waiting'")
        await dst.copy_records_to_table("tickets", records=[tuple(r) for r in rows], columns=cols)
        await dst.execute(BARE_INDEX)
        await dst.execute("ANALYZE tickets")
        return int(await dst.fetchval("SELECT count(*) FROM tickets WHERE status = 'waiting'"))
    finally:
        await src.close()
        await dst.close()


async def reset_bare(bare_dsn: str) -> None:
    conn = await asyncpg.connect(bare_dsn)
    try:
        await conn.execute("""UPDATE tickets SET status = 'waiting', window_no = NULL, called_at = NULL,
                                  finished_at = NULL WHERE status <> 'waiting'""")
        await conn.execute("VACUUM ANALYZE tickets")
    finally:
        await conn.close()


async def bare_calls(bare_dsn: str, queue_ids: dict[int, list[Any]], windows: list[int], total: int,
                     mode: str = "closed", pause_s: float = 0.0) -> CallResult:
    conns = {no: await asyncpg.connect(bare_dsn) for no in windows}
    try:
        for c in conns.values():  # prepare outside the timing, as asyncpg's statement cache does on first use
            await c.prepare(BARE_CALL_SQL)
            await c.prepare(BARE_COMPLETE_SQL)

        async def call(no: int) -> str | None:
            row = await conns[no].fetchrow(BARE_CALL_SQL, no, queue_ids[no])
            return None if row is None else str(row["id"])

        async def complete(no: int, tid: str) -> None:
            import uuid

            await conns[no].execute(BARE_COMPLETE_SQL, uuid.UUID(tid))

        if mode == "burst":
            return await burst(windows, total, pause_s, call, complete)
        return await closed_loop(windows, total, call, complete)
    finally:
        await asyncio.gather(*(c.close() for c in conns.values()))


async def explain_bare(bare_dsn: str, queue_ids: list[Any]) -> str:
    conn = await asyncpg.connect(bare_dsn)
    try:
        async with conn.transaction():
            rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + BARE_CALL_SQL, 1, queue_ids)
            raise _Rollback([r[0] for r in rows])
    except _Rollback as rb:
        return "\n".join("      " + line for line in rb.lines)
    finally:
        await conn.close()


class _Rollback(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("rollback")
        self.lines = lines


async def called_twice(service_dsn: str) -> tuple[int, int, int]:
    """(tickets ever called, distinct, tickets whose call count is not 1) in the service's own table."""
    conn = await asyncpg.connect(service_dsn)
    try:
        r = await conn.fetchrow("""SELECT count(*) AS n, count(DISTINCT id) AS d,
                                          count(*) FILTER (WHERE call_no <> 1) AS odd
                                   FROM tickets WHERE first_called_at IS NOT NULL""")
        return int(r["n"]), int(r["d"]), int(r["odd"])
    finally:
        await conn.close()


# --- one run ------------------------------------------------------------------------------------------
async def run(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    assert stack.pg is not None
    res: dict[str, Any] = {"fsync": stack.fsync, "client": args.client}
    service_dsn = stack.pg.dsn(stack.service_db)
    bare_dsn = stack.pg.dsn(BARE_DB)
    cpu = CpuMeter(stack)
    windows = list(range(1, args.windows + 1))
    http: Client = (RawClient if args.client == "raw" else HttpxClient)(stack.base_url,
                                                                       max(args.concurrency, args.windows))
    try:
        # warm-up: connections, statement caches, the first ticket numbers of the day
        await issue_tickets(http, 200, args.concurrency)

        # 1. issue throughput
        cpu.start()
        issue = await issue_tickets(http, args.tickets, args.concurrency)
        wall, used = cpu.stop()
        res["issue"] = {"n": issue.n, "per_s": issue.per_s, "lat": summary(issue.lat_ms), "errors": issue.errors,
                        "cpu": used, "wall": wall}
        print(f"  1. issue   {issue.n} tickets, {args.concurrency} concurrent clients: "
              f"{issue.per_s:7.1f} tickets/s  [target >= {TARGET_ISSUE_PER_S:.0f}/s: "
              f"{verdict(issue.per_s >= TARGET_ISSUE_PER_S)}]", flush=True)
        print(f"     per request: {fmt_lat(summary(issue.lat_ms))}; errors {issue.errors or 'none'}")
        print(fmt_cpu(wall, used, issue.n, "ticket"), flush=True)

        # top the line up so that every call finds somebody
        conn = await asyncpg.connect(service_dsn)
        try:
            waiting = int(await conn.fetchval("SELECT count(*) FROM tickets WHERE status = 'waiting'"))
        finally:
            await conn.close()
        need = args.calls + args.single_calls + args.paced_calls + args.windows * (args.burst_rounds + 1)
        if waiting < need:
            await issue_tickets(http, need - waiting, args.concurrency)
            waiting = need
        res["waiting_before_calls"] = waiting

        # the bare-SQL database is a copy of the tickets as they are now (all waiting)
        bare_waiting = await prepare_bare_db(stack.pg.url, bare_dsn, service_dsn)
        qids = await window_queue_ids(service_dsn)

        tokens = await sign_in_all(http, args.windows)

        # 2a. one window alone: service time without queueing
        ops = http_ops(http, tokens)
        single = await closed_loop([1], args.single_calls, *ops)
        res["single_http"] = summary(single.lat_ms)

        # 2b. every window in parallel
        cpu.start()
        calls = await closed_loop(windows, args.calls, *ops)
        wall, used = cpu.stop()
        res["calls"] = {"n": calls.calls, "per_s": calls.per_s, "lat": summary(calls.lat_ms), "errors": calls.errors,
                        "cpu": used, "wall": wall}

        # 2b'. every window at the same instant, round after round
        cpu.start()
        bursts = await burst(windows, args.burst_rounds, args.burst_pause, *ops)
        bwall_h, bused_h = cpu.stop()
        res["burst"] = {"n": bursts.calls, "rounds": args.burst_rounds, "lat": summary(bursts.lat_ms),
                        "round_ms": bursts.rounds,
                        "errors": bursts.errors, "cpu": bused_h, "wall": bwall_h}

        # 2c. (information) the same windows at a steady, still very busy, rate
        steady: CallResult | None = None
        if args.paced_rate > 0 and args.paced_calls > 0:
            steady = await paced(windows, args.paced_calls, args.paced_rate, *ops)
            res["paced"] = {"rate": args.paced_rate, "n": steady.calls, "lat": summary(steady.lat_ms),
                            "errors": steady.errors}
        n, distinct, odd = await called_twice(service_dsn)
        all_ids = single.ids + calls.ids + bursts.ids + (steady.ids if steady else [])
        dup_in_run = len(all_ids) - len(set(all_ids))
        res["correct"] = {"called": n, "distinct": distinct, "call_no_not_1": odd, "dups_seen_by_clients": dup_in_run}
    finally:
        await http.aclose()

    # 3. the bare statement, same PostgreSQL, same waiting rows, same concurrency
    bare_single = await bare_calls(bare_dsn, qids, [1], args.single_calls)
    await reset_bare(bare_dsn)
    cpu.start()
    bare = await bare_calls(bare_dsn, qids, windows, args.calls)
    bwall, bused = cpu.stop()
    res["bare"] = {"n": bare.calls, "per_s": bare.per_s, "lat": summary(bare.lat_ms), "errors": bare.errors,
                   "waiting": bare_waiting, "dups": len(bare.ids) - len(set(bare.ids)), "cpu": bused, "wall": bwall}
    res["bare_single"] = summary(bare_single.lat_ms)
    await reset_bare(bare_dsn)
    bare_b = await bare_calls(bare_dsn, qids, windows, args.burst_rounds, mode="burst", pause_s=args.burst_pause)
    res["bare_burst"] = {"n": bare_b.calls, "lat": summary(bare_b.lat_ms),
                         "dups": len(bare_b.ids) - len(set(bare_b.ids))}
    res["plan"] = await explain_bare(bare_dsn, qids[1])

    c, b = res["calls"]["lat"], res["bare"]["lat"]
    res["ratio_p50"] = c["p50"] / b["p50"]
    res["ratio_p99"] = c["p99"] / b["p99"]
    print(f"  2. call-next over HTTP, {args.windows} windows in parallel, {waiting} waiting at start:")
    print(f"     {fmt_lat(c)}  -> {calls.per_s:6.1f} calls/s (each call followed by a complete)")
    print(f"     [target p99 <= {TARGET_CALL_P99_MS:.0f} ms: {verdict(c['p99'] <= TARGET_CALL_P99_MS)}]"
          f"  errors {calls.errors or 'none'}")
    print(fmt_cpu(wall, used, calls.calls, "call+complete"))
    bh = res["burst"]["lat"]
    print(f"  2'. call-next over HTTP, all {args.windows} windows pressing at the same instant, "
          f"{args.burst_rounds} rounds {args.burst_pause:g} s apart:")
    print(f"     {fmt_lat(bh)}  [target p99 <= {TARGET_CALL_P99_MS:.0f} ms: {verdict(bh['p99'] <= TARGET_CALL_P99_MS)}]"
          f"  errors {res['burst']['errors'] or 'none'}")
    print(fmt_cpu(res["burst"]["wall"], res["burst"]["cpu"], max(1, res["burst"]["n"]), "call"))
    slow = sorted(range(len(bursts.rounds)), key=lambda k: -bursts.rounds[k])[:5]
    print("     slowest rounds (round: ms until its last answer): "
          + ", ".join(f"{k + 1}: {bursts.rounds[k]:.0f}" for k in slow)
          + f"; median round {statistics.median(bursts.rounds):.0f} ms" if bursts.rounds else "")
    print(f"     one window alone (no queueing): {fmt_lat(res['single_http'])}")
    if "paced" in res:
        pc = res["paced"]
        print(f"     {args.windows} windows, calls arriving at random at {pc['rate']:g}/s in all (information): "
              f"{fmt_lat(pc['lat'])}  errors {pc['errors'] or 'none'}")
    cr = res["correct"]
    good = cr["called"] == cr["distinct"] and cr["dups_seen_by_clients"] == 0 and cr["call_no_not_1"] == 0
    print(f"     correctness: {cr['called']} tickets called, {cr['distinct']} distinct, "
          f"{cr['call_no_not_1']} with call_no != 1, {cr['dups_seen_by_clients']} duplicates seen by clients  "
          f"[{verdict(good)}]")
    print(f"  3. bare SQL, {args.windows} asyncpg connections in parallel, {bare_waiting} waiting at start:")
    print(f"     {fmt_lat(b)}  -> {bare.per_s:6.1f} calls/s; duplicates {res['bare']['dups']}; "
          f"errors {bare.errors or 'none'}")
    print(fmt_cpu(bwall, bused, bare.calls, "call+complete"))
    print(f"     one connection alone: {fmt_lat(res['bare_single'])}")
    bb = res["bare_burst"]["lat"]
    res["ratio_burst_p50"] = bh["p50"] / bb["p50"]
    print(f"     all {args.windows} connections at the same instant: {fmt_lat(bb)}; "
          f"duplicates {res['bare_burst']['dups']}")
    print(f"     ratio HTTP/SQL p50, all windows at the same instant: {res['ratio_burst_p50']:.2f}x (information)")
    res["ratio_single_p50"] = res["single_http"]["p50"] / res["bare_single"]["p50"]
    print(f"     ratio HTTP/SQL p50 {res['ratio_p50']:.2f}x  [target <= {TARGET_RATIO_P50:.0f}x: "
          f"{verdict(res['ratio_p50'] <= TARGET_RATIO_P50)}]   p99 {res['ratio_p99']:.2f}x (information)")
    print(f"     ratio HTTP/SQL p50, one window / one connection alone: {res['ratio_single_p50']:.2f}x (information)")
    if args.plan:
        print("     plan of the bare statement (one execution):\n" + res["plan"])
    sys.stdout.flush()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.queue_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--fsync", choices=["on", "off", "both"], default="on",
                    help="PostgreSQL durability: on (default, as hallnet up runs it), off (fast=True) or both")
    ap.add_argument("--client", choices=["httpx", "raw", "both"], default="raw",
                    help="load generator: one httpx.AsyncClient (default) or a minimal asyncio-streams client")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per setting, each on a fresh stack (2 or more show the spread)")
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--tickets", type=int, default=3000, help="tickets issued in the throughput phase")
    ap.add_argument("--concurrency", type=int, default=48, help="concurrent HTTP clients issuing tickets")
    ap.add_argument("--calls", type=int, default=2000, help="call-next calls in the parallel phase")
    ap.add_argument("--burst-rounds", type=int, default=50,
                    help="rounds in which every window calls at the same instant")
    ap.add_argument("--burst-pause", type=float, default=0.25, help="seconds between those rounds")
    ap.add_argument("--single-calls", type=int, default=200, help="calls made by one window alone")
    ap.add_argument("--paced-rate", type=float, default=20.0,
                    help="calls per second (all windows together) of the steady open-loop phase; 0 skips it")
    ap.add_argument("--paced-calls", type=int, default=300, help="calls in the steady phase")
    ap.add_argument("--plan", action="store_true", help="print the plan of the bare statement")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = ap.parse_args(argv)

    m = machine()
    print("hallnet queue benchmark")
    for k, v in m.items():
        print(f"  {k:8} {v}")
    print("  note     load generator, service, PostgreSQL and nats-server share these CPUs")
    fsyncs = {"on": [True], "off": [False], "both": [True, False]}[args.fsync]
    clients = {"httpx": ["httpx"], "raw": ["raw"], "both": ["httpx", "raw"]}[args.client]
    results = []
    for fsync in fsyncs:
        for client in clients:
            for i in range(args.repeat):
                stack = BenchStack(windows=args.windows, fsync=fsync, keep_dir=args.keep)
                print(f"\n== run {i + 1}/{args.repeat}: PostgreSQL fsync={'on' if fsync else 'off'}, "
                      f"load generator {client}, {args.windows} windows, 3 queues ==", flush=True)
                t0 = time.perf_counter()
                try:
                    stack.start()
                    results.append(asyncio.run(run(stack, argparse.Namespace(**{**vars(args), "client": client}))))
                except BaseException:
                    print(f"!! run failed; queue service log tail:\n{stack.log_tail()}", file=sys.stderr)
                    raise
                finally:
                    stack.stop()
                    if args.keep:
                        print(f"  kept {stack.root}")
                print(f"  (run took {time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n== summary (min .. max over runs) ==")
    for fsync in fsyncs:
        for client in clients:
            rs = [r for r in results if r["fsync"] == fsync and r["client"] == client]

            def rng(key: Callable[[dict[str, Any]], float], rs: list[dict[str, Any]] = rs) -> str:
                vals = [key(r) for r in rs]
                return f"{min(vals):.1f}" if len(vals) == 1 else f"{min(vals):.1f} .. {max(vals):.1f}"

            print(f"  fsync {'on ' if fsync else 'off'}, {client:5} ({len(rs)} run{'s' if len(rs) > 1 else ''}): "
                  f"issue {rng(lambda r: r['issue']['per_s'])}/s; "
                  f"call-next p50 {rng(lambda r: r['calls']['lat']['p50'])} ms, "
                  f"p99 {rng(lambda r: r['calls']['lat']['p99'])} ms, "
                  f"{rng(lambda r: r['calls']['per_s'])} calls/s; "
                  f"bare SQL p50 {rng(lambda r: r['bare']['lat']['p50'])} ms, "
                  f"p99 {rng(lambda r: r['bare']['lat']['p99'])} ms; "
                  f"ratio p50 {rng(lambda r: r['ratio_p50'])}x, p99 {rng(lambda r: r['ratio_p99'])}x")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": m, "args": vars(args), "runs": results}, f, indent=2, default=str)
    ok = all(r["correct"]["called"] == r["correct"]["distinct"] and r["correct"]["dups_seen_by_clients"] == 0
             and r["bare"]["dups"] == 0 and r["bare_burst"]["dups"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
