"""SQL of the central service's reads and alert lifecycle, one class (the ingest's set-based writes, also used by
the alert evaluator, live in ``projection_store.py``). Every method runs on the connection it is given."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.central import domain as d


class CentralStore:
    # --- sites ------------------------------------------------------------------------------------------------------
    async def register_sites(self, conn: asyncpg.Connection, sites: Sequence[d.SiteConfig]) -> None:
        """Configured sites appear (with their names) before any of their events arrives."""
        if not sites:
            return
        await conn.execute(
            """INSERT INTO sites (site, name, configured) SELECT s, n, true FROM unnest($1::text[], $2::text[]) x(s, n)
               ON CONFLICT (site) DO UPDATE SET name = EXCLUDED.name, configured = true""",
            [s.id for s in sites], [s.name for s in sites])

    async def site_known(self, conn: asyncpg.Connection, site: str) -> bool:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM sites WHERE site = $1)", site))

    async def sites(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM sites ORDER BY site")

    async def queues(self, conn: asyncpg.Connection, site: str | None = None) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT * FROM site_queues WHERE ($1::text IS NULL OR site = $1) ORDER BY site, queue_id", site)

    async def windows(self, conn: asyncpg.Connection, site: str | None = None) -> list[asyncpg.Record]:
        return await conn.fetch(
            "SELECT * FROM site_windows WHERE ($1::text IS NULL OR site = $1) ORDER BY site, window_no", site)

    async def day_rows(self, conn: asyncpg.Connection, start: date, end: date) -> list[asyncpg.Record]:
        """Counters summed per site over the days start..end."""
        sums = ", ".join(f"sum({c})::bigint AS {c}" for c in d.COUNTERS)
        return await conn.fetch(
            f"""SELECT site, {sums}, min(first_sign_in_at) AS first_sign_in_at FROM site_day
                WHERE day BETWEEN $1 AND $2 GROUP BY site ORDER BY site""", start, end)

    async def hist(self, conn: asyncpg.Connection, start: date, end: date, kind: str = "w"
                   ) -> dict[str, dict[int, int]]:
        """Histogram counts per site and bucket over the days start..end (``kind`` w: waits, s: service times)."""
        rows = await conn.fetch(
            """SELECT site, bucket, sum(n)::bigint AS n FROM wait_hist
               WHERE day BETWEEN $1 AND $2 AND kind = $3 GROUP BY site, bucket""", start, end, kind)
        out: dict[str, dict[int, int]] = {}
        for r in rows:
            out.setdefault(r["site"], {})[r["bucket"]] = r["n"]
        return out

    async def per_day(self, conn: asyncpg.Connection, site: str, start: date, end: date) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM site_day WHERE site = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
                                site, start, end)

    async def per_hour(self, conn: asyncpg.Connection, site: str, day: date) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM site_hour WHERE site = $1 AND day = $2 ORDER BY hour", site, day)

    async def hist_by_day(self, conn: asyncpg.Connection, site: str, start: date, end: date
                          ) -> dict[date, dict[int, int]]:
        rows = await conn.fetch(
            """SELECT day, bucket, n FROM wait_hist WHERE site = $1 AND kind = 'w' AND day BETWEEN $2 AND $3""",
            site, start, end)
        out: dict[date, dict[int, int]] = {}
        for r in rows:
            out.setdefault(r["day"], {})[r["bucket"]] = r["n"]
        return out

    async def open_complaints(self, conn: asyncpg.Connection) -> dict[str, int]:
        rows = await conn.fetch("SELECT site, count(*) AS n FROM complaints WHERE closed_at IS NULL GROUP BY site")
        return {r["site"]: r["n"] for r in rows}

    async def warned_cases(self, conn: asyncpg.Connection) -> dict[str, dict[str, int]]:
        """Cases not completed with a yellow or red card, per site: {site: {yellow, red}}."""
        rows = await conn.fetch(
            """SELECT site, warned, count(*) AS n FROM cases WHERE completed_at IS NULL AND warned IS NOT NULL
               GROUP BY site, warned""")
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["site"], {"yellow": 0, "red": 0})[r["warned"]] = r["n"]
        return out

    async def sms_window(self, conn: asyncpg.Connection, since: datetime) -> dict[str, tuple[int, int]]:
        rows = await conn.fetch(
            """SELECT site, sum(sent)::bigint AS sent, sum(failed)::bigint AS failed FROM sms_minute
               WHERE minute >= $1 GROUP BY site""", since)
        return {r["site"]: (r["sent"], r["failed"]) for r in rows}

    # --- attendance (考勤) -------------------------------------------------------------------------------------------
    async def window_log(self, conn: asyncpg.Connection, site: str | None, start: date, end: date
                         ) -> list[asyncpg.Record]:
        """The window log of ``site`` (or every site) over the days start..end, in time order."""
        return await conn.fetch(
            """SELECT site, day, window_no, at, kind, staff_id, waiting_left FROM window_log
               WHERE ($1::text IS NULL OR site = $1) AND day BETWEEN $2 AND $3 ORDER BY site, day, at""",
            site, start, end)

    async def waiting_before(self, conn: asyncpg.Connection, site: str | None, day: date
                             ) -> dict[tuple[str, int], bool]:
        """Whether people waited for each window's queues when ``day`` began (its last change before)."""
        rows = await conn.fetch(
            """SELECT DISTINCT ON (site, window_no) site, window_no, kind FROM window_log
               WHERE ($1::text IS NULL OR site = $1) AND day < $2 AND day >= $2 - 7 AND kind IN ('wait', 'nowait')
               ORDER BY site, window_no, at DESC""", site, day)
        return {(r["site"], r["window_no"]): r["kind"] == "wait" for r in rows}

    # --- alerts -----------------------------------------------------------------------------------------------------
    async def alerts(self, conn: asyncpg.Connection, *, state: str | None = None, site: str | None = None,
                     unresolved: bool = False, limit: int = 500) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT * FROM alerts WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR site = $2)
                   AND (NOT $3 OR state <> 'resolved')
               ORDER BY opened_at DESC, id DESC LIMIT $4""", state, site, unresolved, limit)

    async def alerts_by_id(self, conn: asyncpg.Connection, ids: Sequence[int]) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM alerts WHERE id = ANY($1::bigint[]) ORDER BY id", list(ids))

    async def alert(self, conn: asyncpg.Connection, alert_id: int, *, lock: bool = False) -> asyncpg.Record | None:
        return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1" + (" FOR UPDATE" if lock else ""), alert_id)

    async def ack(self, conn: asyncpg.Connection, alert_id: int, who: str, at: datetime, note: str | None
                  ) -> asyncpg.Record:
        return await conn.fetchrow(
            """UPDATE alerts SET state = 'acknowledged', acked_at = $3, acked_by = $2, note = coalesce($4, note)
               WHERE id = $1 RETURNING *""", alert_id, who, at, note)

    async def resolve(self, conn: asyncpg.Connection, alert_id: int, who: str, at: datetime, note: str | None
                      ) -> asyncpg.Record:
        return await conn.fetchrow(
            """UPDATE alerts SET state = 'resolved', resolved_at = $3, resolved_by = $2, note = coalesce($4, note)
               WHERE id = $1 RETURNING *""", alert_id, who, at, note)

    # --- thresholds ---------------------------------------------------------------------------------------------------
    async def thresholds(self, conn: asyncpg.Connection) -> asyncpg.Record | None:
        return await conn.fetchrow('SELECT "values", updated_at, updated_by FROM thresholds WHERE id = 1')

    async def save_thresholds(self, conn: asyncpg.Connection, values: dict[str, Any], who: str, at: datetime
                              ) -> None:
        await conn.execute(
            """INSERT INTO thresholds (id, "values", updated_at, updated_by) VALUES (1, $1::jsonb, $2, $3)
               ON CONFLICT (id) DO UPDATE SET "values" = EXCLUDED."values", updated_at = EXCLUDED.updated_at,
                   updated_by = EXCLUDED.updated_by""", json.dumps(values), at, who)

    # --- housekeeping -----------------------------------------------------------------------------------------------
    async def prune_inbox(self, conn: asyncpg.Connection, consumer: str, before: datetime) -> str:
        return str(await conn.execute("DELETE FROM inbox WHERE consumer = $1 AND processed_at < $2",
                                      consumer, before))

    # --- the calendar published down (放假安排) ---------------------------------------------------------------------
    async def add_publication(self, conn: asyncpg.Connection, year: int, holidays: Sequence[date],
                              workdays: Sequence[date], source: str, who: str, at: datetime, event_id: Any
                              ) -> asyncpg.Record:
        """A new version of ``year`` (one more than the latest; the table lock keeps two PUTs apart)."""
        await conn.execute("LOCK TABLE calendar_publications IN SHARE ROW EXCLUSIVE MODE")
        return await conn.fetchrow(
            """INSERT INTO calendar_publications (year, version, holidays, workdays, source, published_by,
                   published_at, event_id)
               SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7
               FROM calendar_publications WHERE year = $1 RETURNING *""",
            year, list(holidays), list(workdays), source, who, at, event_id)

    async def publication(self, conn: asyncpg.Connection, year: int) -> asyncpg.Record | None:
        """The version of ``year`` in force (the latest)."""
        return await conn.fetchrow(
            "SELECT * FROM calendar_publications WHERE year = $1 ORDER BY version DESC LIMIT 1", year)

    async def publications_in_force(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """The latest version of every published year."""
        return await conn.fetch("SELECT DISTINCT ON (year) * FROM calendar_publications ORDER BY year, version DESC")

    async def unpublished(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM calendar_publications WHERE down_seq IS NULL ORDER BY year, version")

    async def mark_published(self, conn: asyncpg.Connection, event_id: Any, seq: int) -> None:
        await conn.execute("UPDATE calendar_publications SET down_seq = $2 WHERE event_id = $1", event_id, seq)

    async def record_applied(self, conn: asyncpg.Connection, site: str, year: int, version: int, source: str,
                             cases_moved: int, overrides: list[dict[str, Any]], at: datetime) -> None:
        """A site installed a version (an older report arriving late never hides a newer one)."""
        await conn.execute(
            """INSERT INTO calendar_applied (site, year, version, source, cases_moved, overrides, applied_at)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
               ON CONFLICT (site, year) DO UPDATE SET version = excluded.version, source = excluded.source,
                   cases_moved = excluded.cases_moved, overrides = excluded.overrides, applied_at = excluded.applied_at
               WHERE calendar_applied.version < excluded.version""",
            site, year, version, source, cases_moved, json.dumps(overrides), at)

    async def applied(self, conn: asyncpg.Connection, year: int) -> list[asyncpg.Record]:
        return await conn.fetch("SELECT * FROM calendar_applied WHERE year = $1 ORDER BY site", year)
