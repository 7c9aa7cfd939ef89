"""``hallnet up`` / ``hallnet down``: the local demo federation from one command.

    hallnet up [--simulate] [--speed 60] [--state-dir DIR] [--sites zhuzhou,hengnan,baogai] [--no-services]
    hallnet down [--state-dir DIR]

The state directory (``HALLNET_STATE_DIR``, default ``.hallnet`` under the working directory) keeps the
PostgreSQL data, NATS stores and configs, generated demo credentials (``secrets.json``), logs and,
while the federation runs, ``stack.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import unicodedata
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

from hallnet.demo import SITE_IDS
from hallnet.stack import Federation, StackError


def _default_state_dir() -> Path:
    return Path(os.environ.get("HALLNET_STATE_DIR") or Path.cwd() / ".hallnet")


# --- leftovers and `hallnet down` ----------------------------------------------------------------
def pid_matches(pid: int, argv: list[str]) -> bool:
    """Whether ``pid`` still runs the program recorded for it (not a recycled pid)."""
    import psutil

    try:
        cmd = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return bool(cmd) and (cmd == argv or (Path(cmd[0]).name == Path(argv[0]).name and cmd[1:] == argv[1:]))


def _wait_gone(pid: int, argv: list[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_matches(pid, argv):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def terminate_recorded(processes: list[dict[str, Any]], timeout_s: float = 10.0) -> list[str]:
    """Stop the processes a stack.json/run.json lists, last started first; returns their names."""
    stopped = []
    for rec in reversed(processes):
        pid, argv = rec.get("pid"), rec.get("argv") or []
        if not pid or not argv or not pid_matches(pid, argv):
            continue
        sig = signal.SIGINT if rec.get("name") == "postgres" else signal.SIGTERM  # SIGINT: PG fast shutdown
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if not _wait_gone(pid, argv, timeout_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stopped.append(str(rec.get("name")))
    return stopped


def down(state_dir: Path, *, refuse_if_running: bool = False) -> list[str]:
    """Stop what an earlier ``hallnet up`` on ``state_dir`` left: its supervisor (which stops its
    children in order) and then any recorded child still alive."""
    stopped: list[str] = []
    for path in (state_dir / "run.json", state_dir / "stack.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            continue
        sup = doc.get("supervisor") or {}
        if sup.get("pid") and sup["pid"] != os.getpid() and pid_matches(sup["pid"], sup.get("argv", [])):
            if refuse_if_running:
                raise StackError(f"hallnet already runs on {state_dir} (pid {sup['pid']}); "
                                 "stop it with Ctrl-C or `hallnet down`")
            os.kill(sup["pid"], signal.SIGTERM)
            if _wait_gone(sup["pid"], sup["argv"], 40.0):
                stopped.append("hallnet")
        stopped += terminate_recorded(doc.get("processes", []))
        path.unlink(missing_ok=True)
    return stopped


# --- the URL table -------------------------------------------------------------------------------
def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _mask(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def format_table(doc: dict[str, Any]) -> str:
    rows = [["site", "name", "NATS", *sorted({n for s in doc["sites"] for n in s["services"]}, key=_svc_order),
             "entry"]]
    for s in doc["sites"]:
        rows.append([s["id"], s["name"], s["nats_url"], *(s["services"].get(n, "-") for n in rows[0][3:-1]),
                     s["entry"] or "-"])
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  " + "  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    central = doc["central"]
    where = f"JetStream domain {central['js_domain']}" if central.get("js_domain") else "existing server (NATS_URL)"
    out = [f"central  NATS {_mask(central['nats_url'])}  ({where}; stream {central.get('stream', 'CENTRAL')} "
           "sources every site)"]
    if central.get("entry"):
        sup = (central.get("supervisors") or [{}])[0]
        out.append(f"central  supervision wall (监管大屏) {central['entry']}  "
                   f"supervisor {sup.get('user', '-')} / {sup.get('password', '-')} (demo only)")
    out += lines
    for s in doc["sites"]:
        if s["entry"]:
            out.append(f"  {s['id']}: screens (取号机 kiosk, 呼叫器 console, 综合屏 display, 评价器 pad, "
                       f"值班长 manager, 后台 backoffice) at {s['entry']}")
        if s["staff"]:
            first = s["staff"][0]
            out.append(f"  {s['id']}: {len(s['staff'])} demo clerks, e.g. {first['staff_id']} / {first['password']} "
                       f"at window {first['window_no']} (demo-only passwords; all in stack.json)")
        if s.get("backoffice") and s["entry"]:
            bo = s["backoffice"][0]
            depts = len({b["department"] for b in s["backoffice"]})
            out.append(f"  {s['id']}: back office (后台办理) at {s['entry']}backoffice, {len(s['backoffice'])} clerks "
                       f"in {depts} departments, e.g. {bo['staff_id']} / {bo['password']} ({bo['department']})")
    return "\n".join(out)


def _svc_order(name: str) -> int:
    order = ["queue", "matters", "ratings", "notify", "gateway"]
    return order.index(name) if name in order else len(order)


# --- `hallnet up` --------------------------------------------------------------------------------
async def up(args: argparse.Namespace, state_dir: Path) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        left = down(state_dir, refuse_if_running=True)
    except StackError as exc:
        print(f"hallnet: {exc}", file=sys.stderr)
        return 1
    if left:
        print(f"stopped leftovers of an earlier run: {', '.join(left)}", flush=True)
    fed = Federation(state_dir, args.sites, with_services=not args.no_services)
    print(f"starting the hallnet federation in {state_dir} (logs in {fed.logs}) …", flush=True)
    starting = asyncio.create_task(fed.start())
    stopping = asyncio.create_task(stop.wait())
    code = 0
    sim_task: asyncio.Task[Any] | None = None
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            print("interrupted during start-up; stopping …", flush=True)
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, StackError):
                await starting
            return 130
        doc = starting.result()
        print("\nhallnet federation is up\n" + format_table(doc), flush=True)
        print(f"\nstack.json: {fed.stack_path}\nPress Ctrl-C to stop.", flush=True)
        if args.simulate:
            from hallnet.simulate import run_simulation

            sim_task = asyncio.create_task(run_simulation(doc, speed=args.speed, report_every_s=30.0))
        await fed.supervise(stop)
    except Exception as exc:  # noqa: BLE001  (any start-up failure: report it, then stop what started)
        print(f"\nhallnet: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        stopping.cancel()
        if sim_task is not None:
            sim_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sim_task
        print("stopping services, NATS and PostgreSQL …", flush=True)
        await fed.stop()
        print("stopped.", flush=True)
    return code


def _sites(text: str) -> list[str]:
    sites = [s.strip() for s in text.split(",") if s.strip()]
    if not sites or len(set(sites)) != len(sites):
        raise argparse.ArgumentTypeError("a comma-separated list of distinct site ids")
    return sites


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hallnet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the local demo federation and keep it running")
    p_up.add_argument("--simulate", action="store_true", help="generate citizen and clerk traffic")
    p_up.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (60)")
    p_up.add_argument("--state-dir", default=str(_default_state_dir()))
    p_up.add_argument("--sites", type=_sites, default=list(SITE_IDS), help=f"default {','.join(SITE_IDS)}")
    p_up.add_argument("--no-services", action="store_true", help="only PostgreSQL and NATS")
    p_down = sub.add_parser("down", help="stop a federation started by `hallnet up`")
    p_down.add_argument("--state-dir", default=str(_default_state_dir()))
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # platformdirs, harmless here
    args = build_parser().parse_args(argv)
    if args.command == "down":
        stopped = down(Path(args.state_dir).resolve())
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    return asyncio.run(up(args, Path(args.state_dir).resolve()))


if __name__ == "__main__":
    sys.exit(main())
