"""Central's projections of one batch: new events aggregated in memory (counters per site and day/hour, wait and
service-time histograms, latest windows and queues, complaints, cases, SMS per minute, the alerts events open or
resolve), then written with one set-based upsert per table inside the ingest's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.central import domain as d
from shared.events import matters as mev
from shared.events import notify as nev
from shared.events import queue as qev
from shared.events import ratings as rev
from shared.events import site as sev
from shared.events.base import Envelope, EventData

WALL_CHANNEL = "central_wall"  # NOTIFY channel of the wall's server-sent events
HOUR_COUNTERS = ("issued", "served", "wait_sum", "wait_n", "judged", "satisfied")


@dataclass
class _Window:
    state: str
    staff_id: str | None
    since: datetime
    at: datetime
    staffed_on: date | None


class BatchProjection:
    """In-memory aggregation of one batch's new events, written by set-based upserts."""

    def __init__(self, tz: ZoneInfo, scales: dict[str, str], bad_level: int) -> None:
        self.tz = tz
        self.scales = scales
        self.bad_level = bad_level
        self.days: dict[tuple[str, date], dict[str, int]] = {}
        self.first_sign_in: dict[tuple[str, date], datetime] = {}
        self.hours: dict[tuple[str, date, int], dict[str, int]] = {}
        self.hist: dict[tuple[str, date, str, int], int] = {}
        self.sms: dict[tuple[str, datetime], list[int]] = {}
        self.sites: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, tuple[datetime, list[qev.QueueSnapshotItem]]] = {}
        self.windows: dict[tuple[str, int], _Window] = {}
        self.complaints: dict[Any, dict[str, Any]] = {}
        self.cases: dict[Any, dict[str, Any]] = {}
        self.opens: dict[tuple[str, str, str], tuple[d.Candidate, datetime]] = {}
        self.resolves: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        self.chain: list[tuple[str, int, str, str, str, Any]] = []  # (site, seq, hash, prev, digest, event id)

    def _day(self, site: str, day: date) -> dict[str, int]:
        row = self.days.get((site, day))
        if row is None:
            row = self.days[(site, day)] = dict.fromkeys(d.COUNTERS, 0)
        return row

    def _hour(self, site: str, day: date, hour: int) -> dict[str, int]:
        row = self.hours.get((site, day, hour))
        if row is None:
            row = self.hours[(site, day, hour)] = dict.fromkeys(HOUR_COUNTERS, 0)
        return row

    def _hist(self, site: str, day: date, kind: str, seconds: int) -> None:
        key = (site, day, kind, d.bucket_of(seconds))
        self.hist[key] = self.hist.get(key, 0) + 1

    def _window(self, site: str, no: int, state: str, staff_id: str | None, at: datetime, day: date,
                staffed: bool) -> None:
        prev = self.windows.get((site, no))
        since = prev.since if prev is not None and prev.state == state else at
        staffed_on = prev.staffed_on if prev is not None else None
        if staffed:
            staffed_on = max(staffed_on, day) if staffed_on else day
        self.windows[(site, no)] = _Window(state, staff_id, since, at, staffed_on)

    def _open(self, c: d.Candidate, at: datetime) -> None:
        self.resolves.pop(c.key, None)
        self.opens[c.key] = (c, at)

    def _resolve(self, site: str, kind: str, subject: str, at: datetime, note: str) -> None:
        # opened earlier in the same batch: it is written open first, then resolved (on record either way)
        self.resolves[(site, kind, subject)] = (at, note)

    def _chain(self, site: str, env: Envelope, data: Any) -> None:
        """A rating chain entry as its event tells it (events from before the fields existed carry none)."""
        if data.chain_seq is not None and data.chain_hash and data.chain_prev and data.chain_digest:
            self.chain.append((site, data.chain_seq, data.chain_hash, data.chain_prev, data.chain_digest, env.id))

    def add(self, env: Envelope, data: EventData) -> None:
        site, at = env.site, env.occurred_at.astimezone(self.tz)
        day, hour = at.date(), at.hour
        info = self.sites.setdefault(site, {"last_event_at": at, "hb": None, "services": {}, "version": None})
        info["last_event_at"] = max(info["last_event_at"], at)
        if isinstance(data, sev.SiteHeartbeat):
            info["hb"] = max(info["hb"], at) if info["hb"] else at
            for name, status in data.services.items():
                info["services"][name] = {"status": status, "at": at.isoformat()}
            info["version"] = data.version
        elif isinstance(data, qev.TicketIssued):
            self._day(site, day)["issued"] += 1
            self._hour(site, day, hour)["issued"] += 1
        elif isinstance(data, qev.TicketCalled):
            row = self._day(site, day)
            row["called"] += 1
            if data.call_no <= 1:  # the wait ends at the first call (recalls add no wait)
                row["wait_sum"] += data.waited_s
                row["wait_n"] += 1
                h = self._hour(site, day, hour)
                h["wait_sum"] += data.waited_s
                h["wait_n"] += 1
                self._hist(site, day, "w", data.waited_s)
        elif isinstance(data, qev.TicketCompleted):
            row = self._day(site, day)
            row["served"] += 1
            row["service_sum"] += data.served_s
            row["service_n"] += 1
            self._hour(site, day, hour)["served"] += 1
            self._hist(site, day, "s", data.served_s)
        elif isinstance(data, qev.TicketNoShow):
            self._day(site, day)["no_shows"] += 1
        elif isinstance(data, qev.TicketCancelled):
            if data.reason != "day_closed":  # the end-of-day sweep of an earlier day is not a citizen's cancel
                self._day(site, day)["cancelled"] += 1
        elif isinstance(data, qev.TicketTransferred):
            self._day(site, day)["transferred"] += 1
        elif isinstance(data, qev.WindowSignedIn):
            self._window(site, data.window_no, "open", data.staff_id, at, day, True)
            self._day(site, day)  # the day row carries the first sign-in
            key = (site, day)
            self.first_sign_in[key] = min(self.first_sign_in.get(key, at), at)
        elif isinstance(data, qev.WindowSignedOut):
            self._window(site, data.window_no, "closed", None, at, day, True)
        elif isinstance(data, qev.WindowPaused):
            self._window(site, data.window_no, "paused", data.staff_id, at, day, True)
        elif isinstance(data, qev.WindowResumed):
            self._window(site, data.window_no, "open", data.staff_id, at, day, True)
        elif isinstance(data, qev.QueueSnapshot):
            self.snapshots[site] = (at, list(data.queues))
            for w in data.windows:
                state = w.state if w.state in ("closed", "paused") else "open"  # serving: staffed and open
                self._window(site, w.window_no, state, w.staff_id, at, day, state != "closed")
        elif isinstance(data, rev.RatingVoided):
            self._chain(site, env, data)
        elif isinstance(data, rev.RatingSubmitted):
            self._chain(site, env, data)
            sat = d.is_satisfied(data.level, data.scale)
            row = self._day(site, day)
            row["rated"] += 1
            row["satisfied"] += sat
            h = self._hour(site, day, hour)
            h["judged"] += 1
            h["satisfied"] += sat
            if data.level <= self.bad_level:
                row["bad"] += 1
                self._open(d.Candidate(site, "bad_rating", f"rating:{data.rating_id}",
                                       f"差评：{data.level} 级（{data.window_no or '-'}号窗口）/ bad rating",
                                       value=data.level, detail={"rating_id": str(data.rating_id),
                                                                 "window_no": data.window_no,
                                                                 "staff_id": data.staff_id,
                                                                 "matter_id": data.matter_id}), at)
        elif isinstance(data, rev.RatingDefaulted):
            self._chain(site, env, data)
            sat = d.is_satisfied(data.level, self.scales.get(site))
            row = self._day(site, day)
            row["defaulted"] += 1
            row["satisfied"] += sat
            h = self._hour(site, day, hour)
            h["judged"] += 1
            h["satisfied"] += sat
        elif isinstance(data, rev.ComplaintOpened | rev.ComplaintClosed | rev.ComplaintOverdue):
            c = self.complaints.setdefault(data.complaint_id, {"site": site, "rating_id": data.rating_id,
                                                               "opened_at": None, "due_at": None,
                                                               "closed_at": None, "overdue": False})
            c["due_at"] = data.due_at or c["due_at"]
            subject = f"complaint:{data.complaint_id}"
            if isinstance(data, rev.ComplaintOpened):
                self._day(site, day)["complaints_opened"] += 1
                c["opened_at"] = at
            elif isinstance(data, rev.ComplaintClosed):
                self._day(site, day)["complaints_closed"] += 1
                c["closed_at"] = at
                self._resolve(site, "complaint_overdue", subject, at, "complaint closed")
                self._resolve(site, "bad_rating", f"rating:{data.rating_id}", at, "complaint closed")
            else:
                self._day(site, day)["complaints_overdue"] += 1
                c["overdue"] = True
                self._open(d.Candidate(site, "complaint_overdue", subject, "差评整改超期 / complaint overdue",
                                       detail={"complaint_id": str(data.complaint_id),
                                               "rating_id": str(data.rating_id),
                                               "due_at": data.due_at.isoformat() if data.due_at else None}), at)
        elif isinstance(data, mev.CaseAccepted | mev.CaseWarned | mev.CaseCompleted):
            c = self.cases.setdefault(data.case_id, {"site": site, "accepted_at": None, "due_at": None,
                                                     "warned": None, "completed_at": None, "overdue": False})
            subject = f"case:{data.case_id}"
            if isinstance(data, mev.CaseAccepted):
                self._day(site, day)["cases_accepted"] += 1
                c["accepted_at"], c["due_at"] = at, data.due_at
            elif isinstance(data, mev.CaseWarned):
                self._day(site, day)[f"cases_{data.level}"] += 1
                c["due_at"] = data.due_at
                if c["warned"] != "red":
                    c["warned"] = data.level
                label = "办件临近时限（黄牌）/ case nearing its limit" if data.level == "yellow" else \
                    "办件超期（红牌）/ case overdue"
                self._open(d.Candidate(site, f"case_{data.level}", subject, label,
                                       detail={"case_id": str(data.case_id), "due_at": data.due_at.isoformat()}),
                           at)
                if data.level == "red":
                    self._resolve(site, "case_yellow", subject, at, "escalated to red")
            else:
                row = self._day(site, day)
                row["cases_completed"] += 1
                row["cases_overdue"] += data.overdue
                c["completed_at"], c["overdue"] = at, data.overdue
                self._resolve(site, "case_yellow", subject, at, "case completed")
                self._resolve(site, "case_red", subject, at, "case completed")
        elif isinstance(data, nev.SmsSent | nev.SmsFailed):
            if isinstance(data, nev.SmsFailed) and not data.final:
                return  # a retry will follow: only final outcomes count
            failed = isinstance(data, nev.SmsFailed)
            self._day(site, day)["sms_failed" if failed else "sms_sent"] += 1
            minute = at.astimezone(UTC).replace(second=0, microsecond=0)
            slot = self.sms.setdefault((site, minute), [0, 0])
            slot[1 if failed else 0] += 1

    async def write(self, conn: asyncpg.Connection) -> list[int]:
        """Every aggregate in a handful of set-based statements (sorted keys: concurrent writers never
        deadlock). Returns the ids of alerts opened or resolved."""
        if self.chain:
            chain_cols = list(zip(*sorted(self.chain), strict=True))
            await conn.execute(
                """INSERT INTO rating_chain (site, seq, hash, prev, digest, event_id)
                   SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::uuid[])
                   ON CONFLICT (site, seq) DO NOTHING""", *[list(c) for c in chain_cols])
            await conn.execute(
                """INSERT INTO rating_chain_conflicts (site, seq, hash, event_id)
                   SELECT x.s, x.q, x.h, x.e
                   FROM unnest($1::text[], $2::bigint[], $3::text[], $4::uuid[]) AS x(s, q, h, e)
                   JOIN rating_chain c ON c.site = x.s AND c.seq = x.q AND c.hash <> x.h
                   ON CONFLICT DO NOTHING""", *[list(chain_cols[i]) for i in (0, 1, 2, 5)])
        if self.sites:
            keys = sorted(self.sites)
            await conn.execute(
                """INSERT INTO sites (site, first_seen_at, last_event_at, last_heartbeat_at, services, version)
                   SELECT s, e, e, h, sv::jsonb, v FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[],
                        $4::text[], $5::text[]) AS x(s, e, h, sv, v)
                   ON CONFLICT (site) DO UPDATE SET
                       first_seen_at = coalesce(sites.first_seen_at, EXCLUDED.first_seen_at),
                       last_event_at = GREATEST(sites.last_event_at, EXCLUDED.last_event_at),
                       last_heartbeat_at = GREATEST(sites.last_heartbeat_at, EXCLUDED.last_heartbeat_at),
                       services = sites.services || EXCLUDED.services,
                       version = coalesce(EXCLUDED.version, sites.version)""",
                keys, [self.sites[k]["last_event_at"] for k in keys], [self.sites[k]["hb"] for k in keys],
                [json.dumps(self.sites[k]["services"]) for k in keys], [self.sites[k]["version"] for k in keys])
        if self.days:
            keys2 = sorted(self.days)
            cols = ", ".join(d.COUNTERS)
            arrays = ", ".join(f"${i + 4}::bigint[]" for i in range(len(d.COUNTERS)))
            sets = ", ".join(f"{c} = site_day.{c} + EXCLUDED.{c}" for c in d.COUNTERS)
            await conn.execute(
                f"""INSERT INTO site_day (site, day, first_sign_in_at, {cols})
                    SELECT * FROM unnest($1::text[], $2::date[], $3::timestamptz[], {arrays})
                    ON CONFLICT (site, day) DO UPDATE SET {sets},
                        first_sign_in_at = LEAST(site_day.first_sign_in_at, EXCLUDED.first_sign_in_at)""",
                [k[0] for k in keys2], [k[1] for k in keys2], [self.first_sign_in.get(k) for k in keys2],
                *[[self.days[k][c] for k in keys2] for c in d.COUNTERS])
        if self.hours:
            keys3 = sorted(self.hours)
            cols = ", ".join(HOUR_COUNTERS)
            arrays = ", ".join(f"${i + 4}::bigint[]" for i in range(len(HOUR_COUNTERS)))
            sets = ", ".join(f"{c} = site_hour.{c} + EXCLUDED.{c}" for c in HOUR_COUNTERS)
            await conn.execute(
                f"""INSERT INTO site_hour (site, day, hour, {cols})
                    SELECT * FROM unnest($1::text[], $2::date[], $3::smallint[], {arrays})
                    ON CONFLICT (site, day, hour) DO UPDATE SET {sets}""",
                [k[0] for k in keys3], [k[1] for k in keys3], [k[2] for k in keys3],
                *[[self.hours[k][c] for k in keys3] for c in HOUR_COUNTERS])
        if self.hist:
            keys4 = sorted(self.hist)
            await conn.execute(
                """INSERT INTO wait_hist (site, day, kind, bucket, n)
                   SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int[], $5::int[])
                   ON CONFLICT (site, day, kind, bucket) DO UPDATE SET n = wait_hist.n + EXCLUDED.n""",
                [k[0] for k in keys4], [k[1] for k in keys4], [k[2] for k in keys4], [k[3] for k in keys4],
                [self.hist[k] for k in keys4])
        if self.sms:
            keys5 = sorted(self.sms)
            await conn.execute(
                """INSERT INTO sms_minute (site, minute, sent, failed)
                   SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::int[])
                   ON CONFLICT (site, minute) DO UPDATE
                   SET sent = sms_minute.sent + EXCLUDED.sent, failed = sms_minute.failed + EXCLUDED.failed""",
                [k[0] for k in keys5], [k[1] for k in keys5], [self.sms[k][0] for k in keys5],
                [self.sms[k][1] for k in keys5])
        if self.snapshots:
            qs = sorted(((site, item, at) for site, (at, items) in self.snapshots.items() for item in items),
                        key=lambda x: (x[0], str(x[1].queue_id)))
            await conn.execute(
                """INSERT INTO site_queues (site, queue_id, waiting, longest_wait_s, windows_open, at)
                   SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::int[], $5::int[], $6::timestamptz[])
                   ON CONFLICT (site, queue_id) DO UPDATE SET waiting = EXCLUDED.waiting,
                       longest_wait_s = EXCLUDED.longest_wait_s, windows_open = EXCLUDED.windows_open,
                       at = EXCLUDED.at WHERE EXCLUDED.at >= site_queues.at""",
                [q[0] for q in qs], [q[1].queue_id for q in qs], [q[1].waiting for q in qs],
                [q[1].longest_wait_s for q in qs], [q[1].windows_open for q in qs], [q[2] for q in qs])
            snap_sites = sorted(self.snapshots)
            # queues missing from a site's latest snapshot are gone
            await conn.execute(
                """DELETE FROM site_queues q USING unnest($1::text[], $2::timestamptz[]) AS x(site, at)
                   WHERE q.site = x.site AND q.at < x.at""",
                snap_sites, [self.snapshots[s][0] for s in snap_sites])
        if self.windows:
            keys6 = sorted(self.windows)
            ws = [self.windows[k] for k in keys6]
            await conn.execute(
                """INSERT INTO site_windows (site, window_no, state, staff_id, since, at, staffed_on)
                   SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::timestamptz[],
                                        $6::timestamptz[], $7::date[])
                   ON CONFLICT (site, window_no) DO UPDATE SET
                       since = CASE WHEN site_windows.state = EXCLUDED.state THEN site_windows.since
                                    ELSE EXCLUDED.since END,
                       state = EXCLUDED.state, staff_id = EXCLUDED.staff_id, at = EXCLUDED.at,
                       staffed_on = GREATEST(site_windows.staffed_on, EXCLUDED.staffed_on)
                   WHERE EXCLUDED.at >= site_windows.at""",
                [k[0] for k in keys6], [k[1] for k in keys6], [w.state for w in ws], [w.staff_id for w in ws],
                [w.since for w in ws], [w.at for w in ws], [w.staffed_on for w in ws])
        if self.complaints:
            ids = sorted(self.complaints, key=str)
            cs = [self.complaints[i] for i in ids]
            await conn.execute(
                """INSERT INTO complaints (complaint_id, site, rating_id, opened_at, due_at, closed_at, overdue)
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::timestamptz[],
                                        $6::timestamptz[], $7::bool[])
                   ON CONFLICT (complaint_id) DO UPDATE SET
                       opened_at = coalesce(complaints.opened_at, EXCLUDED.opened_at),
                       due_at = coalesce(EXCLUDED.due_at, complaints.due_at),
                       closed_at = coalesce(complaints.closed_at, EXCLUDED.closed_at),
                       overdue = complaints.overdue OR EXCLUDED.overdue""",
                ids, [c["site"] for c in cs], [c["rating_id"] for c in cs], [c["opened_at"] for c in cs],
                [c["due_at"] for c in cs], [c["closed_at"] for c in cs], [c["overdue"] for c in cs])
        if self.cases:
            ids = sorted(self.cases, key=str)
            cs = [self.cases[i] for i in ids]
            await conn.execute(
                """INSERT INTO cases (case_id, site, accepted_at, due_at, warned, completed_at, overdue)
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[],
                                        $6::timestamptz[], $7::bool[])
                   ON CONFLICT (case_id) DO UPDATE SET
                       accepted_at = coalesce(cases.accepted_at, EXCLUDED.accepted_at),
                       due_at = coalesce(EXCLUDED.due_at, cases.due_at),
                       warned = CASE WHEN 'red' IN (cases.warned, EXCLUDED.warned) THEN 'red'
                                     ELSE coalesce(EXCLUDED.warned, cases.warned) END,
                       completed_at = coalesce(cases.completed_at, EXCLUDED.completed_at),
                       overdue = cases.overdue OR EXCLUDED.overdue""",
                ids, [c["site"] for c in cs], [c["accepted_at"] for c in cs], [c["due_at"] for c in cs],
                [c["warned"] for c in cs], [c["completed_at"] for c in cs], [c["overdue"] for c in cs])
        changed: list[int] = []
        if self.opens:
            changed += await open_alerts(conn, [(c, at) for _, (c, at) in sorted(self.opens.items())])
        if self.resolves:
            changed += await resolve_alerts(conn, [(*k, at, "auto", note)
                                                   for k, (at, note) in sorted(self.resolves.items())])
        return changed


async def open_alerts(conn: asyncpg.Connection, items: Iterable[tuple[d.Candidate, datetime]]) -> list[int]:
    """Open each alert unless one is already unresolved for its (site, kind, subject) — then refresh it.
    Returns the ids of the alerts newly opened."""
    rows = list({c.key: (c, at) for c, at in items}.values())
    if not rows:
        return []
    found = await conn.fetch(
        """INSERT INTO alerts (site, kind, subject, severity, message, value, detail, opened_at, last_seen_at)
           SELECT s, k, sj, sv, m, v, dt::jsonb, a, a
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::text[],
                       $8::timestamptz[]) AS x(s, k, sj, sv, m, v, dt, a)
           ON CONFLICT (site, kind, subject) WHERE state <> 'resolved' DO UPDATE
           SET last_seen_at = GREATEST(alerts.last_seen_at, EXCLUDED.last_seen_at), message = EXCLUDED.message,
               value = EXCLUDED.value
           RETURNING id, (xmax = 0) AS inserted""",
        [c.site for c, _ in rows], [c.kind for c, _ in rows], [c.subject for c, _ in rows],
        [c.severity for c, _ in rows], [c.message for c, _ in rows], [c.value for c, _ in rows],
        [json.dumps(c.detail, ensure_ascii=False, default=str) for c, _ in rows], [at for _, at in rows])
    return [r["id"] for r in found if r["inserted"]]


async def resolve_alerts(conn: asyncpg.Connection, items: Iterable[tuple[str, str, str, datetime, str, str]]
                         ) -> list[int]:
    """Resolve the unresolved alert of each (site, kind, subject, at, by, note); returns the ids resolved."""
    rows = list({(i[0], i[1], i[2]): i for i in items}.values())
    if not rows:
        return []
    found = await conn.fetch(
        """UPDATE alerts a SET state = 'resolved', resolved_at = x.at, resolved_by = x.by, note = x.note
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
                AS x(site, kind, subject, at, by, note)
           WHERE a.site = x.site AND a.kind = x.kind AND a.subject = x.subject AND a.state <> 'resolved'
           RETURNING a.id""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
        [r[4] for r in rows], [r[5] for r in rows])
    return [r["id"] for r in found]
