"""Use cases of the central service: the wall's views of every site, the alert evaluation and lifecycle
(open → acknowledged → resolved), thresholds, supervisor sign-in. Figures come from the projections the ingest
writes; nothing here holds personal data (events carry none)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.central import alerts as al
from services.central import domain as d
from services.central.projection_store import notify_wall, open_alerts, resolve_alerts
from services.central.settings import CentralSettings
from services.central.store import CentralStore
from shared import errors
from shared.auth import ClerkClaims, InvalidToken, issue_token, verify_password, verify_token
from shared.clock import iso
from shared.clock import now as clock_now
from shared.logging import get_logger
from shared.workdays import WorkCalendar

log = get_logger("central")
PREFIX = "/central/api/v1"
ROLE = "supervisor"


def _iso(dt: datetime | None, tz: Any) -> str | None:
    return iso(dt.astimezone(tz)) if dt is not None else None


def alert_view(r: asyncpg.Record, tz: Any) -> dict[str, Any]:
    return {"id": r["id"], "site": r["site"], "kind": r["kind"], "subject": r["subject"], "severity": r["severity"],
            "state": r["state"], "message": r["message"], "value": r["value"], "detail": r["detail"],
            "opened_at": _iso(r["opened_at"], tz), "last_seen_at": _iso(r["last_seen_at"], tz),
            "acked_at": _iso(r["acked_at"], tz), "acked_by": r["acked_by"],
            "resolved_at": _iso(r["resolved_at"], tz), "resolved_by": r["resolved_by"], "note": r["note"]}


def last_seen(site_row: asyncpg.Record) -> datetime | None:
    """When central last heard from a site: its heartbeat, or any event (which proves the link as well)."""
    seen = [x for x in (site_row["last_heartbeat_at"], site_row["last_event_at"]) if x is not None]
    return max(seen) if seen else None


class CentralApp:
    def __init__(self, pool: asyncpg.Pool, settings: CentralSettings, *,
                 clock: Callable[[], datetime] | None = None, store: CentralStore | None = None) -> None:
        self.pool = pool
        self.settings = settings
        self.tz = settings.tz
        self.store = store or CentralStore()
        self._clock = clock or (lambda: clock_now(self.tz))
        self.configs: dict[str, d.SiteConfig] = {s.id: s for s in settings.sites()}
        self.thresholds = settings.default_thresholds()
        self.thresholds_meta: dict[str, Any] = {"updated_at": None, "updated_by": None}
        self.thresholds_problem: str | None = None  # stored thresholds that could not be used (health: degraded)
        self._years_warned: set[int] = set()
        self.calendar = WorkCalendar(on_unknown_year=self._unknown_year)
        self._last_eval = 0.0

    def _unknown_year(self, year: int) -> None:
        if year not in self._years_warned:
            self._years_warned.add(year)
            log.warning("calendar_year_unknown", year=year, fallback="weekends only")

    def now(self) -> datetime:
        return self._clock().astimezone(self.tz)

    def config(self, site: str) -> d.SiteConfig:
        return self.configs.get(site) or d.SiteConfig(id=site, name=site)

    def scales(self) -> dict[str, str]:
        return {k: v.scale for k, v in self.configs.items()}

    async def start(self) -> None:
        """Configured sites appear at once; thresholds saved earlier win over the settings' defaults."""
        async with self.pool.acquire() as conn:
            await self.store.register_sites(conn, list(self.configs.values()))
            row = await self.store.thresholds(conn)
        if row is not None:
            merged = {**self.thresholds.model_dump(), **row["values"]}
            try:
                self.thresholds = d.Thresholds.model_validate(merged)
            except ValidationError as exc:  # saved before today's bounds: the defaults stand until a supervisor saves
                self.thresholds_problem = f"saved thresholds out of range, defaults used: {exc.error_count()} errors"
                log.error("stored_thresholds_invalid", errors=exc.error_count())
                return
            self.thresholds_meta = {"updated_at": _iso(row["updated_at"], self.tz), "updated_by": row["updated_by"]}

    # --- the wall -------------------------------------------------------------------------------------------------
    async def summaries(self, only: set[str] | None = None) -> list[dict[str, Any]]:
        """Every site at a glance (or the sites in ``only``): status colour with reasons, queues, windows, today."""
        now = self.now()
        today = now.date()
        t = self.thresholds
        async with self.pool.acquire() as conn:
            sites = await self.store.sites(conn)
            queues = await self.store.queues(conn)
            windows = await self.store.windows(conn)
            days = {r["site"]: r for r in await self.store.day_rows(conn, today, today)}
            hists = await self.store.hist(conn, today, today)
            service_hists = await self.store.hist(conn, today, today, "s")
            complaints = await self.store.open_complaints(conn)
            cases = await self.store.warned_cases(conn)
            alerts = await self.store.alerts(conn, unresolved=True, limit=5000)
        by_site: dict[str, dict[str, list[Any]]] = {}
        for q in queues:
            by_site.setdefault(q["site"], {"q": [], "w": [], "a": []})["q"].append(q)
        for w in windows:
            by_site.setdefault(w["site"], {"q": [], "w": [], "a": []})["w"].append(w)
        for a in alerts:
            by_site.setdefault(a["site"], {"q": [], "w": [], "a": []})["a"].append(a)
        out = []
        for s in sites:
            site = s["site"]
            if only is not None and site not in only:
                continue
            parts = by_site.get(site, {"q": [], "w": [], "a": []})
            is_online = al.online(last_seen(s), now, t)
            unresolved = [{"kind": a["kind"], "severity": a["severity"], "message": a["message"]} for a in parts["a"]]
            colour, reasons = al.status_colour(is_online, unresolved)
            ws = parts["w"]
            counters = dict(days[site]) if site in days else {}
            warned = cases.get(site, {"yellow": 0, "red": 0})
            out.append({
                "site": site, "name": s["name"] or self.config(site).name or site, "configured": s["configured"],
                "status": colour, "reasons": reasons, "online": is_online,
                "last_heartbeat_at": _iso(s["last_heartbeat_at"], self.tz),
                "last_event_at": _iso(s["last_event_at"], self.tz), "version": s["version"],
                "services": {name: {**v, "stale": not is_online or (
                    now - datetime.fromisoformat(v["at"])).total_seconds() > t.offline_after_s}
                    for name, v in (s["services"] or {}).items()},
                "queues": {"waiting": sum(q["waiting"] for q in parts["q"]),
                           "longest_wait_s": max((q["longest_wait_s"] for q in parts["q"]), default=0),
                           "count": len(parts["q"])},
                "windows": {"open": sum(1 for w in ws if w["state"] == "open"),
                            "paused": sum(1 for w in ws if w["state"] == "paused"),
                            "unstaffed": sum(1 for w in ws if w["state"] == "closed")},
                "today": {**d.figures(counters, hists.get(site), service_hists.get(site)),
                          "open_complaints": complaints.get(site, 0),
                          "warned_yellow": warned["yellow"], "warned_red": warned["red"],
                          "overdue_cases": warned["red"],
                          "first_sign_in_at": _iso(counters.get("first_sign_in_at"), self.tz)},
                "alerts": {"open": sum(1 for a in parts["a"] if a["state"] == "open"),
                           "acknowledged": sum(1 for a in parts["a"] if a["state"] == "acknowledged")},
            })
        return out

    async def verify_rating_chain(self, site: str) -> dict[str, Any]:
        """The site's rating chain (好差评) checked from the events central received, nothing else."""
        async with self.pool.acquire() as conn:
            entries = await conn.fetch(
                "SELECT seq, hash, prev, digest FROM rating_chain WHERE site = $1 ORDER BY seq", site)
            conflicts = await conn.fetch("SELECT seq FROM rating_chain_conflicts WHERE site = $1", site)
        return {"site": site, **d.verify_rating_chain(entries, conflicts)}

    async def site_detail(self, site: str) -> dict[str, Any]:
        """Drill-down: the summary plus every queue, every window and the site's unresolved alerts."""
        found = await self.summaries({site})
        if not found:
            raise d.SiteNotFound(site)
        async with self.pool.acquire() as conn:
            queues = await self.store.queues(conn, site)
            windows = await self.store.windows(conn, site)
            alerts = await self.store.alerts(conn, site=site, unresolved=True)
        cfg = self.config(site)
        return {**found[0], "office_hours": cfg.office_hours, "scale": cfg.scale,
                "queue_list": [{"queue_id": str(q["queue_id"]), "waiting": q["waiting"],
                                "longest_wait_s": q["longest_wait_s"], "windows_open": q["windows_open"],
                                "at": _iso(q["at"], self.tz)} for q in queues],
                "window_list": [{"window_no": w["window_no"], "state": w["state"], "staff_id": w["staff_id"],
                                 "since": _iso(w["since"], self.tz),
                                 "staffed_on": w["staffed_on"].isoformat() if w["staffed_on"] else None}
                                for w in windows],
                "open_alerts": [alert_view(a, self.tz) for a in alerts]}

    # --- alerts ---------------------------------------------------------------------------------------------------
    async def evaluate(self) -> list[int]:
        """Open the condition alerts the current state calls for and auto-resolve those whose condition cleared
        (each (site, kind, subject) has at most one unresolved alert). Returns the ids changed."""
        now = self.now()
        t = self.thresholds
        self._last_eval = time.monotonic()
        async with self.pool.acquire() as conn, conn.transaction():
            sites = await self.store.sites(conn)
            queues = await self.store.queues(conn)
            windows = await self.store.windows(conn)
            sms = await self.store.sms_window(conn, now - timedelta(minutes=t.sms_window_min))
            alerts = await self.store.alerts(conn, unresolved=True, limit=100_000)
            states: dict[str, al.SiteState] = {
                s["site"]: al.SiteState(site=s["site"], config=self.config(s["site"]),
                                        last_heartbeat_at=last_seen(s),
                                        sms_sent=sms.get(s["site"], (0, 0))[0],
                                        sms_failed=sms.get(s["site"], (0, 0))[1],
                                        services=service_statuses(s["services"])) for s in sites}
            for q in queues:
                if q["site"] in states:
                    states[q["site"]].queues.append(dict(q))
            for w in windows:
                if w["site"] in states:
                    states[w["site"]].windows.append(al.WindowState(
                        w["window_no"], w["state"], w["since"].astimezone(self.tz), w["staffed_on"],
                        waiting=w["waiting"], busy=w["busy"],
                        active_at=w["active_at"].astimezone(self.tz) if w["active_at"] else None))
            for a in alerts:
                if a["site"] in states:
                    states[a["site"]].open_alerts.append({"kind": a["kind"], "subject": a["subject"],
                                                          "detail": a["detail"]})
            opens: list[tuple[al.Candidate, datetime]] = []
            clears: list[tuple[str, str, str, datetime, str, str]] = []
            for state in states.values():
                want, cleared = al.evaluate(state, t, now, self.calendar.is_workday)
                opens += [(c, now) for c in want]
                clears += [(*k, now, "auto", "condition cleared") for k in sorted(cleared)]
            changed = await open_alerts(conn, opens) + await resolve_alerts(conn, clears)
            if changed:
                await notify_wall(conn, [], changed)
        if changed:
            log.info("alerts_evaluated", changed=len(changed))
        return changed

    async def maybe_evaluate(self, min_interval_s: float) -> None:
        """After a batch: evaluate unless the last evaluation is more recent than ``min_interval_s``."""
        if time.monotonic() - self._last_eval >= min_interval_s:
            await self.evaluate()

    async def list_alerts(self, state: str | None, site: str | None, limit: int) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await self.store.alerts(conn, state=state, site=site, limit=limit)
        return [alert_view(r, self.tz) for r in rows]

    async def alerts_by_id(self, ids: list[int]) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [alert_view(r, self.tz) for r in await self.store.alerts_by_id(conn, ids)]

    async def act(self, alert_id: int, action: al.AlertAction, who: str, note: str | None) -> dict[str, Any]:
        """``ack`` (open → acknowledged) or ``resolve`` (open/acknowledged → resolved), with who and when."""
        now = self.now()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.store.alert(conn, alert_id, lock=True)
            if row is None:
                raise al.AlertNotFound(alert_id)
            if al.next_state(row["state"], action) == "acknowledged":
                row = await self.store.ack(conn, alert_id, who, now, note)
            else:
                row = await self.store.resolve(conn, alert_id, who, now, note)
            await notify_wall(conn, [row["site"]], [alert_id])
        log.info("alert_" + ("acknowledged" if action == "ack" else "resolved"), alert_id=alert_id, by=who,
                 kind=row["kind"], site=row["site"])
        return alert_view(row, self.tz)

    # --- thresholds ---------------------------------------------------------------------------------------------------
    def thresholds_view(self) -> dict[str, Any]:
        return {**self.thresholds.model_dump(), **self.thresholds_meta}

    async def set_thresholds(self, changes: dict[str, Any], who: str) -> dict[str, Any]:
        try:
            new = d.Thresholds.model_validate({**self.thresholds.model_dump(), **changes})
        except ValueError as exc:
            raise d.InvalidThresholds(exc) from exc
        now = self.now()
        async with self.pool.acquire() as conn:
            await self.store.save_thresholds(conn, new.model_dump(), who, now)
        self.thresholds = new
        self.thresholds_problem = None
        self.thresholds_meta = {"updated_at": iso(now), "updated_by": who}
        log.info("thresholds_changed", by=who, fields=sorted(changes))
        return self.thresholds_view()

    # --- supervisors (监管/督导) ------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str) -> dict[str, Any]:
        stored = self.settings.central_supervisors.get(username)
        if stored is None or not verify_password(password, stored):
            raise errors.Unauthorized("用户名或密码错误 / wrong user name or password")
        expires = int(time.time()) + self.settings.central_token_ttl_s
        token = issue_token(self.settings.token_secret, ClerkClaims(
            site="central", staff_id=username, window_no=0, session_id=uuid.uuid4(), expires_at=expires, role=ROLE))
        log.info("supervisor_signed_in", user=username)
        return {"token": token, "user": username, "role": ROLE, "expires_at": expires}

    def supervisor(self, authorization: str | None) -> str:
        """The supervisor named by ``Authorization: Bearer <token>`` (401 without a valid one; a site's clerk
        token is never accepted: it is bound to its site, and its role is not supervisor)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise errors.Unauthorized("需要监管登录令牌 / a supervisor token is required (Authorization: Bearer …)")
        try:
            claims = verify_token(self.settings.token_secret, authorization[7:].strip(), site="central")
        except InvalidToken as exc:
            raise errors.Unauthorized(f"令牌无效 / invalid token: {exc}") from exc
        if claims.role != ROLE:
            raise errors.Forbidden("仅限监管人员 / supervisors only")
        return claims.staff_id

    # --- housekeeping ----------------------------------------------------------------------------------------
    async def prune(self) -> None:
        before = self.now() - timedelta(days=self.settings.central_inbox_keep_days)
        async with self.pool.acquire() as conn:
            await self.store.prune_inbox(conn, self.settings.central_durable, before)

    def today(self) -> date:
        return self.now().date()


def service_statuses(services: Any) -> dict[str, str]:
    """``sites.services`` (``{service: {status, at}}``, from heartbeats) as ``{service: status}``."""
    raw = json.loads(services) if isinstance(services, str) else (services or {})
    return {name: str(v.get("status", "ok")) for name, v in raw.items() if isinstance(v, dict)}
