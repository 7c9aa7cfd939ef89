"""SQL of central's ingest, all set-based: claim a batch's events in the inbox, write a ``BatchProjection`` with one
upsert per table, open and resolve alerts (also the evaluator's), and tell the wall (PostgreSQL NOTIFY). Every
function runs on the connection (and in the transaction) it is given."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from services.central import alerts as al
from services.central import domain as d

if TYPE_CHECKING:
    from services.central.projections import BatchProjection

K = TypeVar("K")
WALL_CHANNEL = "central_wall"  # NOTIFY channel of the wall's server-sent events


async def claim(conn: asyncpg.Connection, consumer: str, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Claim ``event_ids`` in the inbox in one statement; returns those not seen before (the others are
    duplicates: a redelivery, or the stream delivered again)."""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])
           ON CONFLICT DO NOTHING RETURNING event_id""", consumer, list(event_ids))
    return {r["event_id"] for r in rows}


async def notify_wall(conn: asyncpg.Connection, sites: Iterable[str], alert_ids: Sequence[int]) -> None:
    """Tell the wall (at the commit) which sites' figures and which alerts changed."""
    await conn.execute("SELECT pg_notify($1, $2)", WALL_CHANNEL,
                       json.dumps({"sites": sorted(sites)[:200], "alerts": list(alert_ids[:200])}))


async def write(conn: asyncpg.Connection, p: BatchProjection) -> list[int]:
    """Every aggregate of ``p`` in a handful of set-based statements (sorted keys: concurrent writers never
    deadlock). Returns the ids of alerts opened or resolved."""
    if p.chain:
        chain_cols = list(zip(*sorted(p.chain), strict=True))
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
    if p.sites:
        keys = sorted(p.sites)
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
            keys, [p.sites[k]["last_event_at"] for k in keys], [p.sites[k]["hb"] for k in keys],
            [json.dumps(p.sites[k]["services"]) for k in keys], [p.sites[k]["version"] for k in keys])
    back_days, back_hours = await _ratings(conn, p)  # before the counters: one sorted upsert per table
    await _add_days(conn, _merged(p.days, back_days), p.first_sign_in)
    await _add_hours(conn, _merged(p.hours, back_hours))
    if p.hist:
        keys4 = sorted(p.hist)
        await conn.execute(
            """INSERT INTO wait_hist (site, day, kind, bucket, n)
               SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int[], $5::int[])
               ON CONFLICT (site, day, kind, bucket) DO UPDATE SET n = wait_hist.n + EXCLUDED.n""",
            [k[0] for k in keys4], [k[1] for k in keys4], [k[2] for k in keys4], [k[3] for k in keys4],
            [p.hist[k] for k in keys4])
    if p.sms:
        keys5 = sorted(p.sms)
        await conn.execute(
            """INSERT INTO sms_minute (site, minute, sent, failed)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::int[])
               ON CONFLICT (site, minute) DO UPDATE
               SET sent = sms_minute.sent + EXCLUDED.sent, failed = sms_minute.failed + EXCLUDED.failed""",
            [k[0] for k in keys5], [k[1] for k in keys5], [p.sms[k][0] for k in keys5],
            [p.sms[k][1] for k in keys5])
    if p.snapshots:
        qs = sorted(((site, item, at) for site, (at, items) in p.snapshots.items() for item in items),
                    key=lambda x: (x[0], str(x[1].queue_id)))
        await conn.execute(
            """INSERT INTO site_queues (site, queue_id, waiting, longest_wait_s, windows_open, at)
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::int[], $5::int[], $6::timestamptz[])
               ON CONFLICT (site, queue_id) DO UPDATE SET waiting = EXCLUDED.waiting,
                   longest_wait_s = EXCLUDED.longest_wait_s, windows_open = EXCLUDED.windows_open,
                   at = EXCLUDED.at WHERE EXCLUDED.at >= site_queues.at""",
            [q[0] for q in qs], [q[1].queue_id for q in qs], [q[1].waiting for q in qs],
            [q[1].longest_wait_s for q in qs], [q[1].windows_open for q in qs], [q[2] for q in qs])
        snap_sites = sorted(p.snapshots)
        # queues missing from a site's latest snapshot are gone
        await conn.execute(
            """DELETE FROM site_queues q USING unnest($1::text[], $2::timestamptz[]) AS x(site, at)
               WHERE q.site = x.site AND q.at < x.at""",
            snap_sites, [p.snapshots[s][0] for s in snap_sites])
    await _window_log(conn, p)
    if p.windows:
        keys6 = sorted(p.windows)
        ws = [p.windows[k] for k in keys6]
        await conn.execute(
            """INSERT INTO site_windows (site, window_no, state, staff_id, since, at, staffed_on, waiting, busy)
               SELECT s, n, st, sf, si, a, so, wt, coalesce(b, false)
               FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                           $7::date[], $8::int[], $9::bool[]) AS x(s, n, st, sf, si, a, so, wt, b)
               ON CONFLICT (site, window_no) DO UPDATE SET
                   since = CASE WHEN site_windows.state = EXCLUDED.state THEN site_windows.since
                                ELSE EXCLUDED.since END,
                   state = EXCLUDED.state, staff_id = EXCLUDED.staff_id, at = EXCLUDED.at,
                   staffed_on = GREATEST(site_windows.staffed_on, EXCLUDED.staffed_on),
                   waiting = coalesce(EXCLUDED.waiting, site_windows.waiting)
               WHERE EXCLUDED.at >= site_windows.at""",
            [k[0] for k in keys6], [k[1] for k in keys6], [w.state for w in ws], [w.staff_id for w in ws],
            [w.since for w in ws], [w.at for w in ws], [w.staffed_on for w in ws], [w.waiting for w in ws],
            [w.busy for w in ws])
        moved = [(k, w) for k, w in zip(keys6, ws, strict=True) if w.changed]
        if moved:  # closed → open → closed within one batch: closed since the batch's sign-out, not since before
            await conn.execute(
                """UPDATE site_windows w SET since = x.since
                   FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::timestamptz[]) AS x(s, n, since, a)
                   WHERE w.site = x.s AND w.window_no = x.n AND w.at = x.a""",
                [k[0] for k, _ in moved], [k[1] for k, _ in moved], [w.since for _, w in moved],
                [w.at for _, w in moved])
        busy = [(k, w) for k, w in zip(keys6, ws, strict=True) if w.busy is not None]
        if busy:  # the latest busy of the batch (snapshot or sign-in/out), where it is the row's latest news
            await conn.execute(
                """UPDATE site_windows w SET busy = x.b
                   FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bool[]) AS x(s, n, a, b)
                   WHERE w.site = x.s AND w.window_no = x.n AND w.at <= x.a""",
                [k[0] for k, _ in busy], [k[1] for k, _ in busy], [w.at for _, w in busy], [w.busy for _, w in busy])
    if p.activity:
        keys7 = sorted(p.activity)
        await conn.execute(
            """UPDATE site_windows w SET active_at = GREATEST(w.active_at, x.a),
                   busy = CASE WHEN x.a >= w.at AND x.a >= coalesce(w.active_at, x.a) THEN x.b ELSE w.busy END
               FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bool[]) AS x(s, n, a, b)
               WHERE w.site = x.s AND w.window_no = x.n""",
            [k[0] for k in keys7], [k[1] for k in keys7], [p.activity[k][0] for k in keys7],
            [p.activity[k][1] for k in keys7])
    if p.complaints:
        ids = sorted(p.complaints, key=str)
        cs = [p.complaints[i] for i in ids]
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
    if p.cases:
        ids = sorted(p.cases, key=str)
        cs = [p.cases[i] for i in ids]
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
    if p.opens:
        changed += await open_alerts(conn, [(c, at) for _, (c, at) in sorted(p.opens.items())])
    if p.resolves:
        changed += await resolve_alerts(conn, [(*k, at, "auto", note)
                                               for k, (at, note) in sorted(p.resolves.items())])
    return changed


async def _window_log(conn: asyncpg.Connection, p: BatchProjection) -> None:
    """The batch's window events into ``window_log``, and its waiting samples where they change what the window's
    queues had (the batch's first sample of a window against ``site_windows``, before that row is updated)."""
    if p.window_log:
        cols = list(zip(*p.window_log, strict=True))
        await conn.execute(
            """INSERT INTO window_log (site, day, window_no, at, kind, staff_id, waiting_left)
               SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::timestamptz[], $5::text[], $6::text[],
                                    $7::int[])""", *[list(c) for c in cols])
    if p.wait_samples:
        cols = list(zip(*p.wait_samples, strict=True))
        await conn.execute(
            """INSERT INTO window_log (site, day, window_no, at, kind)
               SELECT x.s, (x.a AT TIME ZONE $6)::date, x.n, x.a, CASE WHEN x.h THEN 'wait' ELSE 'nowait' END
               FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::bool[], $5::bool[]) AS x(s, n, a, h, f)
               LEFT JOIN site_windows w ON w.site = x.s AND w.window_no = x.n
               WHERE NOT x.f OR w.waiting IS NULL OR (w.waiting > 0) <> x.h""",
            *[list(c) for c in cols], p.tz.key)


async def _add_days(conn: asyncpg.Connection, days: dict[tuple[str, date], dict[str, int]],
                    first_sign_in: dict[tuple[str, date], datetime]) -> None:
    """Add counters (negative ones too: a void) to the (site, day) rows."""
    keys = sorted(days)
    await _add(conn, "site_day", ("site", "day", "first_sign_in_at"), ("text", "date", "timestamptz"), d.COUNTERS,
               [[k[0] for k in keys], [k[1] for k in keys], [first_sign_in.get(k) for k in keys]],
               [days[k] for k in keys],
               extra_set=", first_sign_in_at = LEAST(site_day.first_sign_in_at, EXCLUDED.first_sign_in_at)")


async def _add_hours(conn: asyncpg.Connection, hours: dict[tuple[str, date, int], dict[str, int]]) -> None:
    """Add counters to the (site, day, hour) rows."""
    keys = sorted(hours)
    await _add(conn, "site_hour", ("site", "day", "hour"), ("text", "date", "smallint"), d.HOUR_COUNTERS,
               [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]], [hours[k] for k in keys])


async def _add(conn: asyncpg.Connection, table: str, key_cols: tuple[str, ...], key_types: tuple[str, ...],
               counters: tuple[str, ...], keys: list[list[Any]], rows: list[dict[str, int]], *,
               extra_set: str = "") -> None:
    """One set-based upsert that adds ``counters`` of ``rows`` to ``table`` (constant names only, values as
    parameters). The conflict target is every key column but a trailing ``first_sign_in_at``."""
    if not rows:
        return
    conflict = ", ".join(c for c in key_cols if c != "first_sign_in_at")
    params = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(key_types))
    arrays = ", ".join(f"${i + 1 + len(key_cols)}::bigint[]" for i in range(len(counters)))
    sets = ", ".join(f"{c} = {table}.{c} + EXCLUDED.{c}" for c in counters)
    await conn.execute(
        f"""INSERT INTO {table} ({", ".join(key_cols)}, {", ".join(counters)})
            SELECT * FROM unnest({params}, {arrays})
            ON CONFLICT ({conflict}) DO UPDATE SET {sets}{extra_set}""",
        *keys, *[[r.get(c, 0) for r in rows] for c in counters])


def _merged(into: dict[K, dict[str, int]], more: dict[K, dict[str, int]]) -> dict[K, dict[str, int]]:
    out = {k: dict(v) for k, v in into.items()}
    for k, add in more.items():
        row = out.setdefault(k, {})
        for c, v in add.items():
            row[c] = row.get(c, 0) + v
    return out


async def _ratings(conn: asyncpg.Connection, p: BatchProjection
                   ) -> tuple[dict[tuple[str, date], dict[str, int]], dict[tuple[str, date, int], dict[str, int]]]:
    """Remember what each new rating counted; then answer what to take back, from the day and hour they counted
    in, for the ratings voided in this batch (once: a void seen again finds its rating voided already)."""
    days: dict[tuple[str, date], dict[str, int]] = {}
    hours: dict[tuple[str, date, int], dict[str, int]] = {}
    if p.rated:
        keys = sorted(p.rated)
        rows = [p.rated[k] for k in keys]
        await conn.execute(
            """INSERT INTO rating_counts (site, rating_id, day, hour, rated, defaulted, satisfied, bad)
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::date[], $4::smallint[], $5::smallint[],
                                    $6::smallint[], $7::smallint[], $8::smallint[])
               ON CONFLICT (site, rating_id) DO NOTHING""",
            [k[0] for k in keys], [k[1] for k in keys], [r[0] for r in rows], [r[1] for r in rows],
            *[[r[2][c] for r in rows] for c in ("rated", "defaulted", "satisfied", "bad")])
    if not p.voids:
        return days, hours
    keys = sorted(p.voids)
    taken = await conn.fetch(
        """UPDATE rating_counts rc SET voided_by = x.by, voided_at = x.at
           FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS x(site, rating_id, by, at)
           WHERE rc.site = x.site AND rc.rating_id = x.rating_id AND rc.voided_at IS NULL
           RETURNING rc.site, rc.day, rc.hour, rc.rated, rc.defaulted, rc.satisfied, rc.bad""",
        [k[0] for k in keys], [k[1] for k in keys], [p.voids[k][0] for k in keys], [p.voids[k][1] for k in keys])
    for r in taken:
        back = d.voided_counters(dict(r))
        day = days.setdefault((r["site"], r["day"]), {})
        for k, v in back.items():
            day[k] = day.get(k, 0) + v
        hour = hours.setdefault((r["site"], r["day"], r["hour"]), {})
        for k, v in d.hour_counters(back).items():
            hour[k] = hour.get(k, 0) + v
    return days, hours


async def open_alerts(conn: asyncpg.Connection, items: Iterable[tuple[al.Candidate, datetime]]) -> list[int]:
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
