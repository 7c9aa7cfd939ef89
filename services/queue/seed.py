"""Load a site configuration (queues, matters, windows, staff with AB roles, office hours, policy) from
JSON, as ``hallnet up`` ships for the demo sites. Idempotent: re-running updates what changed and never
overwrites a password a clerk has since changed."""

from __future__ import annotations

import json
from datetime import date, time
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.queue.domain import OfficeHours, Policy
from shared.auth import hash_password
from shared.ids import queue_uuid


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueCfg(_M):
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$")
    name: str = Field(min_length=1)
    hall: str | None = None
    default_service_s: int = Field(300, gt=0)


class MatterCfg(_M):
    matter_id: str = Field(min_length=1, max_length=64)
    name: str
    queue: str
    service_s: int | None = Field(None, gt=0)


class WindowCfg(_M):
    no: int = Field(gt=0)
    name: str
    hall: str | None = None
    queues: list[str] = Field(min_length=1)


class StaffCfg(_M):
    staff_id: str = Field(min_length=1, max_length=32)
    name: str
    password: str = Field(min_length=4)
    roles: list[tuple[int, str]] = []
    manager: bool = False


class OfficeHoursCfg(_M):
    weekdays: list[int] = [1, 2, 3, 4, 5]
    sessions: list[tuple[str, str]] = [("09:00", "12:00"), ("13:30", "17:30")]
    issue_cutoff_min: int = 0
    issue_during_lunch: bool = True
    open_early_min: int = 30
    extra_closed_days: list[date] = []
    extra_open_days: list[date] = []


class SiteCfg(_M):
    site: str
    name: str
    timezone: str = "Asia/Shanghai"
    office_hours: OfficeHoursCfg = OfficeHoursCfg()
    policy: dict[str, int] = {}
    queues: list[QueueCfg]
    matters: list[MatterCfg] = []
    windows: list[WindowCfg]
    staff: list[StaffCfg] = []

    @field_validator("policy")
    @classmethod
    def _policy(cls, v: dict[str, int]) -> dict[str, int]:
        Policy(**v)  # raises with the offending value
        return v

    @model_validator(mode="after")
    def _refs(self) -> SiteCfg:
        prefixes = [q.prefix for q in self.queues]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError("queue prefixes must be unique")
        for m in self.matters:
            if m.queue not in prefixes:
                raise ValueError(f"matter {m.matter_id} routes to unknown queue {m.queue}")
        nos = [w.no for w in self.windows]
        if len(set(nos)) != len(nos):
            raise ValueError("window numbers must be unique")
        for w in self.windows:
            for p in w.queues:
                if p not in prefixes:
                    raise ValueError(f"window {w.no} serves unknown queue {p}")
        for s in self.staff:
            for no, role in s.roles:
                if no not in nos or role not in ("A", "B"):
                    raise ValueError(f"staff {s.staff_id} has a bad role {role} on window {no}")
        office_hours_from_json(self.office_hours.model_dump(mode="json"))
        return self


def office_hours_from_json(raw: dict[str, Any]) -> OfficeHours:
    def t(s: str) -> time:
        return time.fromisoformat(s)

    return OfficeHours(
        weekdays=frozenset(raw.get("weekdays", [1, 2, 3, 4, 5])),
        sessions=tuple((t(a), t(b)) for a, b in raw.get("sessions", [("09:00", "12:00"), ("13:30", "17:30")])),
        issue_cutoff_min=int(raw.get("issue_cutoff_min", 0)),
        issue_during_lunch=bool(raw.get("issue_during_lunch", True)),
        open_early_min=int(raw.get("open_early_min", 30)),
        extra_closed_days=frozenset(date.fromisoformat(str(d)) for d in raw.get("extra_closed_days", [])),
        extra_open_days=frozenset(date.fromisoformat(str(d)) for d in raw.get("extra_open_days", [])),
    )


def load_site_file(path: str | Path) -> SiteCfg:
    return SiteCfg.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


async def apply_site_config(conn: asyncpg.Connection, cfg: SiteCfg) -> None:
    """Upsert the configuration in one transaction."""
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO site_config (key, value) VALUES ('office_hours', $1), ('policy', $2)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            cfg.office_hours.model_dump(mode="json"), cfg.policy,
        )
        qid = {q.prefix: queue_uuid(cfg.site, q.prefix) for q in cfg.queues}
        await conn.executemany(
            """INSERT INTO queues (id, prefix, name, hall, default_service_s) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (prefix) DO UPDATE SET name = excluded.name, hall = excluded.hall,
                   default_service_s = excluded.default_service_s, active = true""",
            [(qid[q.prefix], q.prefix, q.name, q.hall, q.default_service_s) for q in cfg.queues],
        )
        await conn.executemany(
            """INSERT INTO matter_routes (matter_id, name, queue_id, service_s) VALUES ($1, $2, $3, $4)
               ON CONFLICT (matter_id) DO UPDATE SET name = excluded.name, queue_id = excluded.queue_id,
                   service_s = excluded.service_s""",
            [(m.matter_id, m.name, qid[m.queue], m.service_s) for m in cfg.matters],
        )
        await conn.executemany(
            """INSERT INTO windows (no, name, hall, queue_ids) VALUES ($1, $2, $3, $4)
               ON CONFLICT (no) DO UPDATE SET name = excluded.name, hall = excluded.hall,
                   queue_ids = excluded.queue_ids""",
            [(w.no, w.name, w.hall, [qid[p] for p in w.queues]) for w in cfg.windows],
        )
        known = {r["id"] for r in await conn.fetch("SELECT id FROM staff")}
        for s in cfg.staff:
            if s.staff_id in known:
                await conn.execute("UPDATE staff SET name = $2, is_manager = $3 WHERE id = $1",
                                   s.staff_id, s.name, s.manager)
            else:
                await conn.execute(
                    "INSERT INTO staff (id, name, password_hash, is_manager) VALUES ($1, $2, $3, $4)",
                    s.staff_id, s.name, hash_password(s.password), s.manager,
                )
            await conn.execute("DELETE FROM window_roles WHERE staff_id = $1", s.staff_id)
            await conn.executemany(
                "INSERT INTO window_roles (window_no, staff_id, role) VALUES ($1, $2, $3)",
                [(no, s.staff_id, role) for no, role in s.roles],
            )
