"""Ratings (好差评) in the simulated halls: some citizens rate their service on the window's pad (评价器) right after
it, mostly well, now and then badly (差评, with reason tags); the duty manager (值班长) follows every bad rating up
over the simulated day: calls back (回访核实), has it rectified (整改) by the rated clerk, closes it (办结). And some
citizens leave a phone at the kiosk, so the SMS log shows ticket messages. Over HTTP only, like the citizens."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hallnet.sim_desk import Clock
from hallnet.sim_people import fake_phone

RATINGS_API = "/ratings/api/v1"
RATE_SHARE = 0.2  # of services, those rated on the pad
BAD_SHARE = 0.08  # of pad ratings, the bad ones (不满意, 非常不满意)
TICKET_PHONE_SHARE = 0.1  # of tickets, those whose holder leaves a phone at the kiosk
MAX_RATINGS_PER_MIN = 20  # per site: below the ratings service's limit per client address (30 a minute)
FOLLOW_UP = ("verify", "rectify", "close")  # the duty manager's order of work on a complaint
NOTES = {"verify": "已电话回访，情况属实", "rectify": "已当面致歉并改进服务", "explain": "已向群众解释说明",
         "close": "整改完成，群众认可"}


def rating_body(rng: random.Random, invitation: dict[str, Any], window_no: int, *, bad_share: float = BAD_SHARE
                ) -> dict[str, Any]:
    """A citizen's rating on the pad: the best two levels mostly, 基本满意 sometimes, a bad level (≤ ``bad_max``)
    with one or two reason tags in ``bad_share`` of the cases; sub-indicators alike."""
    levels = sorted(int(x["level"]) for x in invitation["levels"])
    bad_max = int(invitation.get("bad_max", levels[0]))
    bad = [lv for lv in levels if lv <= bad_max]
    good = [lv for lv in levels if lv > bad_max]
    if bad and rng.random() < bad_share:
        level = rng.choice(bad)
        reasons = [r["key"] for r in invitation.get("reasons") or []]
        picked = rng.sample(reasons, min(len(reasons), rng.choice((1, 2))))
        body: dict[str, Any] = {"level": level, "reasons": picked}
    else:
        weights = [4 if lv == good[-1] else 3 if len(good) > 1 and lv == good[-2] else 1 for lv in good]
        level = rng.choices(good, weights=weights)[0]
        body = {"level": level}
    body["indicators"] = {x["key"]: level for x in invitation.get("indicators") or []}
    body.update(channel="pad", window_no=window_no)
    return body


def follow_up_step(complaint: dict[str, Any]) -> str | None:
    """The duty manager's next step on a complaint: the first of 回访核实, 整改, 办结 the service offers (its
    ``next_actions``); None when nothing is to be done now (closed, rectifying by a date, an appeal)."""
    offered = complaint.get("next_actions")
    if offered is None:  # an older ratings service: by status
        offered = {"open": ["verify"], "verified": ["rectify"], "rectified": ["close"]}.get(complaint["status"], [])
    return next((a for a in FOLLOW_UP if a in offered), None)


@dataclass
class RatingStats:
    rated: int = 0
    bad: int = 0
    followed_up: int = 0
    phones: int = 0
    errors: int = 0
    last_error: str = ""

    def line(self) -> str:
        out = f"rated {self.rated} (差评 {self.bad}), follow-up steps {self.followed_up}, SMS phones {self.phones}"
        if self.errors:
            out += f", rating errors {self.errors} (last: {self.last_error})"
        return out


class RatingDesk:
    def __init__(self, site: dict[str, Any], clock: Clock, rng: random.Random, http: httpx.AsyncClient,
                 clerk_tokens: dict[int, str]) -> None:
        self.site, self.clock, self.rng, self.http = site, clock, rng, http
        services = site["services"]
        self.base = services.get("ratings", "") + RATINGS_API
        self.notify = services.get("notify")
        self.clerk_tokens = clerk_tokens
        self.pads = {int(p["window_no"]): p["token"] for p in site.get("pads") or []}  # pad credentials, if any
        self.sent: list[float] = []  # monotonic times of recent submissions (the per-minute budget)
        self.stats = RatingStats()

    def _error(self, what: str, r: httpx.Response | Exception) -> None:
        self.stats.errors += 1
        detail = f"{r.status_code} {r.text[:160]}" if isinstance(r, httpx.Response) else repr(r)
        self.stats.last_error = f"{what}: {detail}"

    def _budget(self) -> bool:
        now = time.monotonic()
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= MAX_RATINGS_PER_MIN:
            return False
        self.sent.append(now)
        return True

    async def after_service(self, window_no: int, ticket_id: str) -> None:
        """Some citizens rate the service just completed on the window's pad (一次一评)."""
        if "ratings" not in self.site["services"] or self.rng.random() >= RATE_SHARE or not self._budget():
            return
        headers = {"Authorization": f"Bearer {self.pads[window_no]}"} if window_no in self.pads else {}
        try:
            for _ in range(20):  # the invitation opens when the ratings service has read the completion
                r = await self.http.get(f"{self.base}/windows/{window_no}/invitation", headers=headers)
                if r.status_code == 200 and r.json().get("subject_id") == ticket_id:
                    break
                await asyncio.sleep(0.15)
            else:
                return  # the next service at this window came first, or the pad's time is up
            body = rating_body(self.rng, r.json(), window_no)
            r = await self.http.post(f"{self.base}/invitations/{r.json()['id']}/rating", json=body, headers=headers)
        except httpx.HTTPError as exc:
            return self._error("rating", exc)
        if r.status_code == 201:
            self.stats.rated += 1
            self.stats.bad += "reasons" in body
        elif r.status_code not in (409, 429):  # rated elsewhere already, or over the budget: the citizen walks on
            self._error("rating", r)

    async def leave_phone(self, ticket_id: str) -> None:
        """A citizen leaves a mobile number at the kiosk: SMS when the ticket is issued, near and called."""
        if not self.notify or self.rng.random() >= TICKET_PHONE_SHARE:
            return
        try:
            r = await self.http.post(f"{self.notify}/notify/api/v1/contacts",
                                     json={"ref_type": "ticket", "ref_id": ticket_id, "phone": fake_phone(self.rng)})
        except httpx.HTTPError as exc:
            return self._error("contact", exc)
        if r.status_code == 201:
            self.stats.phones += 1
        else:
            self._error("contact", r)

    async def duty_manager(self, manager: dict[str, Any]) -> None:
        """The 值班长 looks at the bad ratings every 40–80 simulated minutes and takes one step on each."""
        queue = self.site["services"]["queue"] + "/queue/api/v1"
        token: str | None = None
        while "ratings" in self.site["services"]:
            await self.clock.sleep(self.rng.uniform(40, 80) * 60)
            try:
                if token is None:
                    r = await self.http.post(f"{queue}/manager/sign-in",
                                             json={"staff_id": manager["staff_id"], "password": manager["password"]})
                    if r.status_code != 200:
                        self._error("manager sign-in", r)
                        continue
                    token = str(r.json()["token"])
                r = await self.http.get(f"{self.base}/complaints?status=active",
                                        headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 422:  # a ratings service without the 'active' filter
                    r = await self.http.get(f"{self.base}/complaints", headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 401:
                    token = None
                    continue
                if r.status_code != 200:
                    self._error("complaints", r)
                    continue
                for c in r.json():
                    await self.follow_up(c, token)
            except httpx.HTTPError as exc:
                self._error("complaints", exc)

    async def follow_up(self, complaint: dict[str, Any], manager_token: str) -> None:
        step = follow_up_step(complaint)
        if step is None or self.rng.random() < 0.3:  # not every complaint every round: a day's work, not a sweep
            return
        token = manager_token
        if step == "rectify" and complaint.get("window_no") in self.clerk_tokens:
            token = self.clerk_tokens[complaint["window_no"]]  # the rated clerk puts it right (整改)
        r = await self.http.post(f"{self.base}/complaints/{complaint['id']}/{step}", json={"note": NOTES[step]},
                                 headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 403 and token != manager_token:  # another clerk at that window now: the manager does it
            r = await self.http.post(f"{self.base}/complaints/{complaint['id']}/{step}", json={"note": NOTES[step]},
                                     headers={"Authorization": f"Bearer {manager_token}"})
        if r.status_code == 200:
            self.stats.followed_up += 1
        else:
            self._error(step, r)
