"""Load a site configuration (queues, matters, windows, staff with AB roles, office hours, policy) from
JSON, as ``hallnet up`` ships for the demo sites. Idempotent: re-running updates what changed and never
overwrites a password a clerk has since changed."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.queue.domain import Policy
from services.queue.hours import office_hours_from_json
from services.queue.site_store import SiteStore
from shared.auth import hash_password
from shared.events.base import make_event
from shared.events.queue import SessionEnded
from shared.ids import queue_uuid
from shared.outbox import add_to_outbox


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
    # 后台科室: the department (as the matters catalog names it) this person works for in the back office
    backoffice: str | None = Field(None, min_length=2, max_length=30)


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


def load_site_file(path: str | Path) -> SiteCfg:
    return SiteCfg.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


async def apply_site_config(conn: asyncpg.Connection, cfg: SiteCfg, store: SiteStore | None = None) -> None:
    """Upsert the configuration in one transaction."""
    store = store or SiteStore()
    async with conn.transaction():
        await store.put_config(conn, cfg.office_hours.model_dump(mode="json"), cfg.policy)
        qid = {q.prefix: queue_uuid(cfg.site, q.prefix) for q in cfg.queues}
        await store.put_queues(conn, [(qid[q.prefix], q.prefix, q.name, q.hall, q.default_service_s)
                                      for q in cfg.queues])
        await store.put_routes(conn, [(m.matter_id, m.name, qid[m.queue], m.service_s) for m in cfg.matters])
        await store.put_windows(conn, [(w.no, w.name, w.hall, [qid[p] for p in w.queues]) for w in cfg.windows])
        known = await store.staff_ids(conn)
        for s in cfg.staff:
            if s.staff_id in known:
                before = await store.update_seeded_staff(conn, s.staff_id, s.name, s.manager, s.backoffice)
                if before != s.backoffice:  # moved to another department: tokens naming the old one end here
                    await _end_backoffice_sessions(conn, store, cfg.site, s.staff_id)
            else:
                await store.add_staff(conn, s.staff_id, s.name, hash_password(s.password), s.manager, s.backoffice)
            await store.replace_staff_roles(conn, s.staff_id, [(no, role) for no, role in s.roles])


async def _end_backoffice_sessions(conn: asyncpg.Connection, store: SiteStore, site: str, staff_id: str) -> None:
    ended = await store.end_staff_sessions(conn, staff_id, "ended_by_manager", role="backoffice")
    await add_to_outbox(conn, *(make_event(site, SessionEnded(session_id=sid, staff_id=staff_id, role=role,
                                                              reason="ended_by_manager")) for sid, role in ended))
