"""Citizen and clerk traffic for the demo federation, on an accelerated clock.

    python -m hallnet.simulate --stack .hallnet/stack.json --speed 60 --minutes 120

``--speed 60`` plays one simulated minute per real second. The simulated day runs 08:15–17:45 and
then starts again; arrivals follow a morning peak (9–11), a lunch lull (tickets may still be taken)
and a smaller afternoon peak, matters are weighted by how common they are, service times follow a
lognormal spread around each matter's ``service_s``, 5% of citizens are absent when called (recalled
once, then marked 过号/no-show) and about 5% take the green channel (绿色通道). About 80% of windows
are staffed by their A-role clerk, who loops: call next, start, serve, complete.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

API = "/queue/api/v1"
DAY_START_MIN, DAY_END_MIN = 8 * 60 + 15, 17 * 60 + 45  # the simulated day loops over 08:15–17:45
MORNING = (8 * 60 + 30, 12 * 60)
LUNCH = (12 * 60, 14 * 60 + 30)
AFTERNOON = (14 * 60 + 30, 17 * 60 + 30)
# citizens per day: 株洲 "每天接待群众达1000多人次"; 衡南 31 windows; a township station a few dozen
DAILY_VISITORS = {"zhuzhou": 1100, "hengnan": 900, "baogai": 50}
VISITORS_PER_WINDOW = 30
# how common a matter is relative to others (default 1.0); the heavy ones are the everyday ones
MATTER_WEIGHTS = {
    "kk-bhk": 3.0, "yb-ydjy": 2.5, "yb-fybx": 2.5, "yl-zgrz": 2.5, "jf-sbjf": 3.0, "yb-mtdj": 1.5,
    "yl-gxzy": 1.5, "yl-txsq": 1.5, "jy-jydj": 1.5, "sb-bxj": 1.5, "yl-lhjy": 1.5, "kk-sl": 1.5,
    "yl-cxcb": 2.0, "yb-cxcb": 2.0, "jy-cydk": 0.3, "ld-jcts": 0.3, "gs-ldnl": 0.5, "yl-sfsl": 0.5,
}
NO_SHOW_RATE, GREEN_RATE, STAFFED_SHARE = 0.05, 0.05, 0.8


# --- pure parts: the arrival curve, sampling --------------------------------------------------
def arrival_weight(minute: float) -> float:
    """Relative arrival intensity at ``minute`` of the day (0 outside office hours)."""
    if MORNING[0] <= minute < MORNING[1]:
        return 0.6 + 1.6 * math.exp(-0.5 * ((minute - 600) / 55) ** 2)  # peak around 10:00
    if LUNCH[0] <= minute < LUNCH[1]:
        return 0.15  # tickets may be taken over lunch, few come
    if AFTERNOON[0] <= minute < AFTERNOON[1]:
        taper = min(1.0, 0.3 + 0.7 * (AFTERNOON[1] - minute) / 30)  # fewer in the last half hour
        return (0.45 + 0.8 * math.exp(-0.5 * ((minute - 915) / 45) ** 2)) * taper  # peak around 15:15
    return 0.0


@lru_cache(maxsize=1)
def _weight_per_day() -> float:
    return sum(arrival_weight(m + 0.5) for m in range(24 * 60))


def arrival_rate(minute: float, daily_total: float) -> float:
    """Expected arrivals per minute at ``minute`` of the day, for ``daily_total`` visitors a day."""
    return daily_total * arrival_weight(minute) / _weight_per_day()


def expected_arrivals(start_min: float, end_min: float, daily_total: float, step: float = 0.25) -> float:
    n = max(1, int((end_min - start_min) / step))
    width = (end_min - start_min) / n
    return sum(arrival_rate(start_min + (i + 0.5) * width, daily_total) for i in range(n)) * width


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth; fine for the small means of one tick)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def sample_service_s(rng: random.Random, service_s: float, sigma: float = 0.35) -> float:
    """Service time around ``service_s`` (its median), lognormal, clipped to [0.25×, 3×]."""
    return min(max(service_s * math.exp(rng.gauss(0.0, sigma)), 0.25 * service_s), 3.0 * service_s)


def pick_staffed_windows(rng: random.Random, staff: list[dict[str, Any]], share: float) -> list[dict[str, Any]]:
    """The A-role clerks who sign in: ``share`` of the windows, at least one."""
    count = max(1, round(len(staff) * share)) if staff else 0
    return sorted(rng.sample(staff, count), key=lambda s: s["window_no"])


@dataclass
class SimClock:
    speed: float
    start_min: float = DAY_START_MIN
    t0: float = field(default_factory=time.monotonic)

    def elapsed_min(self) -> float:
        return (time.monotonic() - self.t0) * self.speed / 60.0

    def minute_of_day(self) -> float:
        span = DAY_END_MIN - DAY_START_MIN
        return DAY_START_MIN + (self.start_min - DAY_START_MIN + self.elapsed_min()) % span

    async def sleep(self, sim_s: float) -> None:
        await asyncio.sleep(max(sim_s / self.speed, 0.02))


def hhmm(minute: float) -> str:
    return f"{int(minute // 60):02d}:{int(minute % 60):02d}"


# --- one site --------------------------------------------------------------------------------------
@dataclass
class Stats:
    issued: int = 0
    green: int = 0
    served: int = 0
    no_show: int = 0
    errors: int = 0
    last_error: str = ""


class SiteSim:
    def __init__(self, site: dict[str, Any], config: dict[str, Any], clock: SimClock, rng: random.Random,
                 http: httpx.AsyncClient) -> None:
        self.site, self.clock, self.rng, self.http = site, clock, rng, http
        self.base = site["services"]["queue"] + API
        self.matters = config["matters"]
        self.weights = [MATTER_WEIGHTS.get(m["matter_id"], 1.0) for m in self.matters]
        self.service_s = {m["matter_id"]: m["service_s"] for m in self.matters}
        self.daily = DAILY_VISITORS.get(site["id"], VISITORS_PER_WINDOW * len(config["windows"]))
        self.absent: set[str] = set()  # tickets whose holder has left: recalled, then no-show
        self.stats = Stats()
        self.tokens: dict[int, str] = {}

    def _error(self, what: str, r: httpx.Response | Exception) -> None:
        self.stats.errors += 1
        detail = f"{r.status_code} {r.text[:160]}" if isinstance(r, httpx.Response) else repr(r)
        self.stats.last_error = f"{what}: {detail}"

    async def post(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(self.base + path, json=body or {}, headers=headers)

    async def arrivals(self) -> None:
        tick = 0.25  # real seconds per tick
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                minute = self.clock.minute_of_day()
                mean = arrival_rate(minute, self.daily) * tick * self.clock.speed / 60.0
                for _ in range(poisson(self.rng, mean)):
                    task = asyncio.create_task(self.issue())
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                await asyncio.sleep(tick)
        finally:
            for task in list(pending):
                task.cancel()

    async def issue(self) -> None:
        """A citizen takes a ticket at the kiosk; a green-channel ticket (老弱病残孕) is confirmed by a
        clerk, so it is issued with a clerk's token at a window."""
        matter = self.rng.choices(self.matters, weights=self.weights)[0]
        body = {"matter_id": matter["matter_id"], "priority": "normal", "channel": "kiosk"}
        token = None
        if self.tokens and self.rng.random() < GREEN_RATE:
            token = self.rng.choice(list(self.tokens.values()))
            body.update(priority="green", channel="window")
        try:
            r = await self.post("/tickets", body, token=token)
        except httpx.HTTPError as exc:
            return self._error("issue", exc)
        if r.status_code != 201:
            return self._error("issue", r)
        self.stats.issued += 1
        self.stats.green += token is not None
        if self.rng.random() < NO_SHOW_RATE:
            self.absent.add(r.json()["id"])

    async def sign_in(self, clerk: dict[str, Any]) -> str | None:
        no = clerk["window_no"]
        r = await self.post(f"/windows/{no}/sign-in", {"staff_id": clerk["staff_id"], "password": clerk["password"]})
        if r.status_code != 200:
            self._error(f"sign-in {no}", r)
            return None
        self.tokens[no] = r.json()["token"]
        return self.tokens[no]

    async def window(self, clerk: dict[str, Any]) -> None:
        """One staffed window: call next, serve or mark no-show, repeat."""
        no = clerk["window_no"]
        token = await self.sign_in(clerk)
        while token is not None:
            try:
                r = await self.post(f"/windows/{no}/call-next", token=token)
                if r.status_code == 204:  # nobody waits: look again in about a simulated minute
                    await asyncio.sleep(max(self.rng.uniform(40, 80) / self.clock.speed, 0.5))
                    continue
                if r.status_code == 401:
                    token = await self.sign_in(clerk)
                    continue
                if r.status_code == 409 and await self.finish_current(no, token):
                    continue
                if r.status_code != 200:
                    self._error(f"call-next {no}", r)
                    await self.clock.sleep(60)
                    continue
                await self.serve(r.json(), token)
            except httpx.HTTPError as exc:
                self._error(f"window {no}", exc)
                await asyncio.sleep(1.0)

    async def finish_current(self, no: int, token: str) -> bool:
        """A ticket left called or serving at this window (e.g. by an earlier run): finish it."""
        r = await self.http.get(self.base + "/windows")
        current = next((w.get("current") for w in r.json() if w["no"] == no), None) if r.status_code == 200 else None
        if not current:
            return False
        tid = current["ticket_id"]
        if current["status"] == "called":
            await self.post(f"/tickets/{tid}/start", token=token)
        r = await self.post(f"/tickets/{tid}/complete", token=token)
        return r.status_code == 200

    async def serve(self, ticket: dict[str, Any], token: str) -> None:
        tid = ticket["id"]
        if tid in self.absent:
            await self.clock.sleep(60)
            r = await self.post(f"/tickets/{tid}/recall", token=token)
            await self.clock.sleep(60)
            r = await self.post(f"/tickets/{tid}/no-show", token=token)
            if r.status_code == 200:
                self.stats.no_show += 1
                self.absent.discard(tid)
            else:
                self._error("no-show", r)
            return
        await self.clock.sleep(self.rng.uniform(15, 45))  # walking to the window
        r = await self.post(f"/tickets/{tid}/start", token=token)
        if r.status_code != 200:
            return self._error("start", r)
        base = self.service_s.get(ticket.get("matter_id") or "", 420)
        await self.clock.sleep(sample_service_s(self.rng, base))
        r = await self.post(f"/tickets/{tid}/complete", token=token)
        if r.status_code != 200:
            return self._error("complete", r)
        self.stats.served += 1

    async def sign_out_all(self) -> None:
        for no, token in self.tokens.items():
            with contextlib.suppress(httpx.HTTPError):
                await self.post(f"/windows/{no}/sign-out", token=token)

    async def waiting(self) -> int | None:
        try:
            r = await self.http.get(self.base + "/queues")
            return sum(q.get("waiting", 0) for q in r.json()) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    async def report(self) -> str:
        s, w = self.stats, await self.waiting()
        line = (f"{self.site['id']}: issued {s.issued} (green {s.green}), served {s.served}, no-show {s.no_show}, "
                f"waiting {'?' if w is None else w}, windows {len(self.tokens)}")
        if s.errors:
            line += f", errors {s.errors} (last: {s.last_error})"
        return line


# --- the whole federation --------------------------------------------------------------------------
def _site_config(site: dict[str, Any]) -> dict[str, Any]:
    from hallnet.demo import site_config_path

    path = Path(site.get("config") or site_config_path(site["id"]))
    return json.loads(path.read_text(encoding="utf-8"))


async def run_simulation(stack: dict[str, Any], *, speed: float = 60.0, minutes: float | None = None,
                         start: str = "08:15", sites: list[str] | None = None, seed: int | None = None,
                         report_every_s: float = 30.0) -> list[Stats]:
    """Drive every site of ``stack`` (a stack.json document) until cancelled or ``minutes`` of
    simulated time have passed; returns each site's counts."""
    h, m = (int(x) for x in start.split(":"))
    clock = SimClock(speed, start_min=h * 60 + m)
    rng = random.Random(seed)
    chosen = [s for s in stack["sites"] if "queue" in s["services"] and (not sites or s["id"] in sites)]
    async with httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(max_connections=200)) as http:
        sims = [SiteSim(s, _site_config(s), clock, random.Random(rng.random()), http) for s in chosen]
        tasks = []
        for sim in sims:
            clerks = pick_staffed_windows(sim.rng, sim.site.get("staff", []), STAFFED_SHARE)
            tasks += [asyncio.create_task(sim.window(c)) for c in clerks]
            tasks.append(asyncio.create_task(sim.arrivals()))
        print(f"[simulate] speed ×{speed:g}, {len(sims)} sites, clock starts {hhmm(clock.minute_of_day())}",
              flush=True)
        try:
            next_report = time.monotonic() + report_every_s
            while minutes is None or clock.elapsed_min() < minutes:
                await asyncio.sleep(0.2)
                if time.monotonic() >= next_report:
                    next_report += report_every_s
                    lines = [await sim.report() for sim in sims]
                    print(f"[simulate {hhmm(clock.minute_of_day())}] " + "; ".join(lines), flush=True)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*(sim.sign_out_all() for sim in sims)), 5.0)
                for sim in sims:
                    print(f"[simulate done] {await sim.report()}", flush=True)
        return [sim.stats for sim in sims]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hallnet.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default=".hallnet/stack.json", help="stack.json written by `hallnet up`")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    parser.add_argument("--minutes", type=float, default=None, help="simulated minutes to run (default: forever)")
    parser.add_argument("--start", default="08:15", help="simulated time of day to start at (HH:MM)")
    parser.add_argument("--sites", default="", help="comma-separated site ids (default: all)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--report-every", type=float, default=10.0, help="real seconds between status lines")
    args = parser.parse_args(argv)
    stack = json.loads(Path(args.stack).read_text(encoding="utf-8"))
    sites = [s for s in args.sites.split(",") if s] or None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_simulation(stack, speed=args.speed, minutes=args.minutes, start=args.start, sites=sites,
                                   seed=args.seed, report_every_s=args.report_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
