"""The simulator's case work at one site, over HTTP only: window clerks accepting promised matters (受理), the back
office of each department working its worklist (后台办理), citizens collecting certificates (领取), and the one-time
history (``sim_cases.plan_history``) played back through the development clock. The rules, the plan and the pace
are pure functions in ``sim_cases.py``; applicants are made up (``sim_people.py``) and never printed."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from hallnet.sim_cases import MatterInfo, PastCase, choose_action, plan_history, rest_min
from hallnet.sim_people import fake_applicant
from shared.workdays import WorkCalendar

MATTERS_API = "/matters/api/v1"
QUEUE_API = "/queue/api/v1"
AS_OF = "X-Hallnet-Dev-As-Of"  # hallnet.devclock: a request dated in the past (development only)
INTAKE_SHARE = 0.6  # of the tickets of promised matters, those that end in an application (others only ask)
MISSING_RATE = 0.15  # applications with a required material missing (422, 一次性告知单)
TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    speed: float

    def elapsed_min(self) -> float: ...

    async def sleep(self, sim_s: float) -> None: ...


@dataclass
class CaseStats:
    accepted: int = 0
    missing: int = 0
    actions: int = 0
    ready: int = 0
    picked_up: int = 0
    history: int = 0
    errors: int = 0
    last_error: str = ""

    def line(self) -> str:
        out = (f"cases accepted {self.accepted} (materials missing {self.missing}), back-office actions "
               f"{self.actions}, ready {self.ready}, picked up {self.picked_up}")
        if self.history:
            out += f", history {self.history}"
        if self.errors:
            out += f", case errors {self.errors} (last: {self.last_error})"
        return out


class CaseDesk:
    def __init__(self, site: dict[str, Any], clock: Clock, rng: random.Random, http: httpx.AsyncClient,
                 clerk_tokens: dict[int, str]) -> None:
        self.site, self.clock, self.rng, self.http = site, clock, rng, http
        self.base = site["services"].get("matters", "") + MATTERS_API
        self.queue = site["services"]["queue"] + QUEUE_API
        self.clerk_tokens = clerk_tokens  # the window clerks' tokens, kept by the queue simulation
        self.matters: dict[str, MatterInfo] = {}
        self.stats = CaseStats()
        self.next_at: dict[str, float] = {}  # case id → simulated minute the back office looks at it again
        self.reviewed_by: dict[str, str] = {}  # case id → who did its 审核 (the 复核 is someone else's)
        self.cal = WorkCalendar()

    def _error(self, what: str, r: httpx.Response | Exception) -> None:
        self.stats.errors += 1
        detail = f"{r.status_code} {r.text[:160]}" if isinstance(r, httpx.Response) else repr(r)
        self.stats.last_error = f"{what}: {detail}"

    async def load(self) -> bool:
        """The site's promised matters (承诺件); False when there is no matters service to talk to."""
        if "matters" not in self.site["services"]:
            return False
        try:
            r = await self.http.get(f"{self.base}/matters")
        except httpx.HTTPError as exc:
            self._error("matters", exc)
            return False
        if r.status_code != 200:
            self._error("matters", r)
            return False
        self.matters = {m.id: m for m in (MatterInfo.of(x) for x in r.json()) if m is not None}
        return True

    async def call(self, method: str, path: str, token: str | None, body: dict[str, Any] | None = None,
                   as_of: datetime | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if as_of is not None:
            headers[AS_OF] = as_of.isoformat()
        return await self.http.request(method, self.base + path, json=body, headers=headers)

    def application(self, m: MatterInfo, ticket_id: str | None, missing: bool) -> dict[str, Any]:
        provided = list(m.required)
        if missing and provided:
            provided.remove(self.rng.choice(provided))
        return {"matter_id": m.id, "ticket_id": ticket_id, "provided": provided,
                "applicant": fake_applicant(self.rng, self.site["id"], datetime.now(TZ).date()).body()}

    # --- at the window ---------------------------------------------------------------------------------
    async def intake(self, matter_id: str | None, ticket_id: str, token: str) -> None:
        """受理 at the window for a promised matter's ticket: most apply, some lack a required material."""
        m = self.matters.get(matter_id or "")
        if m is None or self.rng.random() >= INTAKE_SHARE:
            return
        missing = self.rng.random() < MISSING_RATE
        try:
            r = await self.call("POST", "/cases", token, self.application(m, ticket_id, missing))
        except httpx.HTTPError as exc:
            return self._error("intake", exc)
        if r.status_code == 201:
            self.stats.accepted += 1
            self.next_at[r.json()["id"]] = self.clock.elapsed_min() + rest_min(self.rng, "accept")
        elif r.status_code == 422 and r.json().get("status") == "materials_missing":
            self.stats.missing += 1
        else:
            self._error("intake", r)

    # --- the back office -------------------------------------------------------------------------------
    async def sign_in(self, member: dict[str, Any]) -> str | None:
        try:
            r = await self.http.post(f"{self.queue}/staff/sign-in",
                                     json={"staff_id": member["staff_id"], "password": member["password"]})
        except httpx.HTTPError as exc:
            self._error("back-office sign-in", exc)
            return None
        if r.status_code != 200:
            self._error("back-office sign-in", r)
            return None
        return str(r.json()["token"])

    async def back_office(self, member: dict[str, Any]) -> None:
        """One department's clerk: every 6–15 simulated minutes, the most urgent case that has rested enough (and
        whose next step is theirs to take: not the 复核 of a case they reviewed)."""
        me = str(member["staff_id"])
        token = await self.sign_in(member)
        while True:
            await self.clock.sleep(self.rng.uniform(6, 15) * 60)
            if token is None:
                token = await self.sign_in(member)
                continue
            try:
                r = await self.call("GET", "/worklist", token)
                if r.status_code == 401:
                    token = None
                elif r.status_code == 200:
                    await self.work(r.json(), token, me)
                elif r.status_code != 404:  # 404: a matters service without the worklist yet; look again later
                    self._error("worklist", r)
            except httpx.HTTPError as exc:
                self._error("worklist", exc)

    async def work(self, worklist: list[dict[str, Any]], token: str, me: str) -> None:
        now = self.clock.elapsed_min()
        for item in worklist:
            due = self.next_at.setdefault(item["id"], now + self.rng.uniform(0, 0.2) * rest_min(self.rng, "step"))
            steps = item.get("next_steps") or []
            if due <= now and steps and not (steps[0] == "recheck" and self.reviewed_by.get(item["id"]) == me):
                await self.act(item, token, me)
                return

    async def act(self, item: dict[str, Any], token: str, me: str) -> None:
        case_id, step = item["id"], item["next_steps"][0]
        path, body = choose_action(self.rng, step)
        who = token
        if path == "picked-up" and self.clerk_tokens:  # the citizen collects it at a window (领取)
            who = self.rng.choice(list(self.clerk_tokens.values()))
        self.next_at[case_id] = self.clock.elapsed_min() + rest_min(self.rng, step)  # before the call: one clerk
        r = await self.call("POST", f"/cases/{case_id}/{path}", who, body)
        if r.status_code == 409 and r.json().get("error") == "RecheckBySameStaff":
            self.reviewed_by[case_id] = me  # reviewed by me in an earlier run: my colleague rechecks it
            self.next_at[case_id] = self.clock.elapsed_min()
            return
        if step == "review" and r.status_code == 200:
            self.reviewed_by[case_id] = me
        if r.status_code != 200:
            return self._error(path, r)
        self.stats.actions += 1
        self.stats.ready += path == "ready-for-pickup"
        self.stats.picked_up += path == "picked-up"

    # --- the history, once -----------------------------------------------------------------------------
    async def dev_clock(self) -> bool:
        """Whether the matters service honours ``X-Hallnet-Dev-As-Of`` (``hallnet up`` runs it so)."""
        probe = datetime.now(TZ).replace(microsecond=0)
        try:
            r = await self.http.get(f"{self.base}/health", headers={AS_OF: probe.isoformat()})
        except httpx.HTTPError:
            return False
        return r.status_code == 200 and AS_OF.lower() in r.headers

    async def has_history(self, token: str) -> bool:
        """Cases accepted on an earlier day are still open: an earlier run (or real days) made the history."""
        r = await self.call("GET", "/cases?status=accepted&limit=500", token)
        today = datetime.now(TZ).date().isoformat()
        return r.status_code != 200 or any((c.get("accepted_on") or today) < today for c in r.json())

    async def seed_history(self, backoffice: list[dict[str, Any]]) -> int:
        """Play back the last weeks (``plan_history``) for the departments with a back office; 0 when the matters
        service has no development clock or the history is there already."""
        for _ in range(50):  # the window clerks sign in first; their tokens accept the cases
            if self.clerk_tokens:
                break
            await asyncio.sleep(0.2)
        if not self.clerk_tokens or not await self.dev_clock():
            return 0
        clerk = self.clerk_tokens[min(self.clerk_tokens)]
        if await self.has_history(clerk):
            return 0
        staffed: dict[str, list[dict[str, Any]]] = {}
        for b in backoffice:
            staffed.setdefault(b["department"], []).append(b)
        plan = plan_history(self.rng, [m for m in self.matters.values() if m.department in staffed], self.cal,
                            datetime.now(TZ))
        tokens: dict[str, list[tuple[str, str]]] = {}
        for dept in {p.department for p in plan}:
            signed = [(str(b["staff_id"]), await self.sign_in(b)) for b in staffed[dept]]
            tokens[dept] = [(who, t) for who, t in signed if t]
        for past in plan:
            if await self.play(past, clerk, tokens.get(past.department) or []):
                self.stats.history += 1
        for _, t in (x for ts in tokens.values() for x in ts):
            await self.http.post(f"{self.queue}/staff/sign-out", headers={"Authorization": f"Bearer {t}"})
        return self.stats.history

    async def play(self, past: PastCase, clerk: str, bo_tokens: list[tuple[str, str]]) -> bool:
        """One case of the history, each act dated when it happened; the department's clerks take turns (the one
        who reviewed a case does not recheck it)."""
        m = self.matters[past.matter_id]
        r = await self.call("POST", "/cases", clerk, self.application(m, None, False), as_of=past.accepted_at)
        if r.status_code != 201:
            self._error("history", r)
            return False
        case_id, first = r.json()["id"], self.rng.randrange(2)
        for k, (step, at) in enumerate(zip(m.steps, past.step_times, strict=False)):
            who, token = bo_tokens[(first + k) % len(bo_tokens)] if bo_tokens else ("", None)
            r = await self.call("POST", f"/cases/{case_id}/steps", token, {"step": step}, as_of=at)
            if r.status_code != 200:
                self._error("history step", r)
                return True
            if step == "review":
                self.reviewed_by[case_id] = who
        if past.completed_at is not None:
            token = bo_tokens[first % len(bo_tokens)][1] if bo_tokens else None
            r = await self.call("POST", f"/cases/{case_id}/complete", token, {"result": "approved"},
                                as_of=past.completed_at)
            if r.status_code != 200:
                self._error("history completion", r)
        return True
