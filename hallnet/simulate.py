"""Citizen and clerk traffic for the demo federation, on an accelerated clock.

    python -m hallnet.simulate --stack .hallnet/stack.json --speed 60 --minutes 120

``--speed 60`` plays one simulated minute per real second. The simulated day runs 08:15–17:45 and
then starts again; arrivals follow a morning peak (9–11), a lunch lull (tickets may still be taken)
and a smaller afternoon peak, matters are weighted by how common they are, service times follow a
lognormal spread around each matter's ``service_s``, 5% of citizens are absent when called (recalled
once, then marked 过号/no-show) and about 5% take the green channel (绿色通道). About 80% of windows
are staffed by their A-role clerk, who loops: call next, start, serve, complete (``sim_traffic.py``).

Around the windows (``sim_desk.py``, ``sim_ratings.py``): a promised matter's ticket becomes an application (受理;
15% lack a material: 422 and the 一次性告知单), each department's back-office clerk works its worklist over the
simulated days (steps, a suspension now and then, completion, 通知领取), citizens collect their certificates; the
last weeks' cases are played back once through the development clock, so yellow and red cards (黄牌/红牌) are
there from the start; 20% of services are rated on the pad (8% of them badly), and the duty manager follows every
差评 up; 10% of ticket holders leave a phone for SMS. Applicants and phones are made up and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hallnet.sim_desk import CaseDesk
from hallnet.sim_ratings import RatingDesk
from hallnet.sim_traffic import (
    DAILY_VISITORS,
    GREEN_RATE,
    MATTER_WEIGHTS,
    NO_SHOW_RATE,
    STAFFED_SHARE,
    VISITORS_PER_WINDOW,
    SimClock,
    arrival_rate,
    hhmm,
    pick_staffed_windows,
    poisson,
    sample_service_s,
)

API = "/queue/api/v1"

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
        self.pending: set[asyncio.Task[None]] = set()  # ratings on their way
        self.cases = CaseDesk(site, clock, rng, http, self.tokens)  # 受理, 后台办理, 领取 (sim_desk.py)
        self.ratings = RatingDesk(site, clock, rng, http, self.tokens)  # pad ratings, 差评 follow-up, SMS phones

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
        await self.ratings.leave_phone(r.json()["id"])

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
        await self.cases.intake(ticket.get("matter_id"), tid, token)  # a promised matter: 受理 (or 一次性告知)
        r = await self.post(f"/tickets/{tid}/complete", token=token)
        if r.status_code != 200:
            return self._error("complete", r)
        self.stats.served += 1
        rating = asyncio.create_task(self.ratings.after_service(ticket["window_no"], tid))
        self.pending.add(rating)
        rating.add_done_callback(self.pending.discard)

    async def case_and_rating_work(self) -> list[Coroutine[Any, Any, Any]]:
        """What runs besides the windows: the history played back once, a clerk per back-office department, the
        duty manager following up bad ratings."""
        work: list[Coroutine[Any, Any, Any]] = []
        if await self.cases.load():
            backoffice = self.site.get("backoffice") or []
            work.append(self.cases.seed_history(backoffice))
            work += [self.cases.back_office(b) for b in backoffice]
        work += [self.ratings.duty_manager(m) for m in self.site.get("managers", [])[:1]]
        return work

    async def sign_out_all(self) -> None:
        for no, token in self.tokens.items():
            with contextlib.suppress(httpx.HTTPError):
                await self.post(f"/windows/{no}/sign-out", {"confirm": True}, token=token)  # the demo ends

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
        return f"{line}; {self.cases.stats.line()}; {self.ratings.stats.line()}"


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
            tasks += [asyncio.create_task(t) for t in await sim.case_and_rating_work()]
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
            for t in tasks + [p for sim in sims for p in sim.pending]:
                t.cancel()
            await asyncio.gather(*tasks, *(p for sim in sims for p in sim.pending), return_exceptions=True)
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
