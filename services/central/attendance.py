"""Attendance (考勤), pure: one day of a site's window log (sign-in/out, pause/resume, calls, services ended, and
when people start or stop waiting for a window's queues) folded into one row per window — first sign-in, last
sign-out, time staffed, paused, idle while people waited — with the day's flags (迟到 ``late_start``, 早退
``early_leave``, 空窗 ``empty_window``, ``idle_while_waiting``). No I/O here; ``reports.py`` loads and answers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.central.domain import Thresholds

FLAGS = ("late_start", "early_leave", "empty_window", "idle_while_waiting")


@dataclass(frozen=True)
class LogEntry:
    window_no: int
    at: datetime
    kind: str  # in / out / pause / resume / call / free / wait / nowait
    staff_id: str | None = None
    waiting_left: int | None = None


@dataclass
class _Window:
    window_no: int
    state: str = "closed"  # closed / open / paused
    busy: bool = False
    waiting: bool = False
    staff_id: str | None = None
    first_sign_in: datetime | None = None
    last_sign_out: datetime | None = None
    waiting_left: int | None = None
    staffed_s: float = 0.0
    paused_s: float = 0.0
    idle_s: float = 0.0
    idle_stretch_s: float = 0.0
    longest_idle_s: float = 0.0
    empty_s: float = 0.0
    leaves: list[tuple[datetime, str]] = field(default_factory=list)  # (when, out/pause) not taken back yet

    def spend(self, t0: datetime, t1: datetime, sessions: Sequence[tuple[datetime, datetime]]) -> None:
        """Account the time from ``t0`` to ``t1`` in the current state."""
        dt = (t1 - t0).total_seconds()
        if dt <= 0:
            return
        if self.state != "closed":
            self.staffed_s += dt
        if self.state == "paused":
            self.paused_s += dt
        if self.state == "open" and not self.busy and self.waiting:
            self.idle_s += dt
            self.idle_stretch_s += dt
            self.longest_idle_s = max(self.longest_idle_s, self.idle_stretch_s)
        if self.state != "open" and self.waiting:  # 空窗 counts within office hours only
            self.empty_s += sum(max(0.0, (min(t1, b) - max(t0, a)).total_seconds()) for a, b in sessions)


def _apply(w: _Window, e: LogEntry, sessions: Sequence[tuple[datetime, datetime]], t: Thresholds) -> None:
    if e.kind in ("in", "resume"):
        if e.kind == "in":
            w.first_sign_in = w.first_sign_in or e.at
            w.staff_id = e.staff_id or w.staff_id
            w.busy = False
        w.state = "open"
        # back before the session's end: a leave of that session is taken back
        w.leaves = [(at, k) for at, k in w.leaves if not any(a <= at < b and e.at < b for a, b in sessions)]
        w.idle_stretch_s = 0.0
    elif e.kind in ("out", "pause"):
        if e.kind == "out":
            w.last_sign_out, w.waiting_left, w.busy = e.at, e.waiting_left, False
        w.state = "closed" if e.kind == "out" else "paused"
        if any(b - timedelta(minutes=t.early_leave_lookback_min) <= e.at < b - timedelta(minutes=t.leave_grace_min)
               and e.at >= a for a, b in sessions):
            w.leaves.append((e.at, e.kind))
    elif e.kind in ("call", "free"):
        w.busy = e.kind == "call"
        w.idle_stretch_s = 0.0
        w.staff_id = e.staff_id or w.staff_id
    elif e.kind in ("wait", "nowait"):
        w.waiting = e.kind == "wait"
        if not w.waiting:
            w.idle_stretch_s = 0.0


def fold(entries: Iterable[LogEntry], *, windows: Iterable[int], sessions: Sequence[tuple[datetime, datetime]],
         start: datetime, until: datetime, t: Thresholds, waiting_at_start: dict[int, bool] | None = None
         ) -> list[dict[str, Any]]:
    """One row per window (those in ``windows`` and those in the log) for the day from ``start`` to ``until`` (the
    day's end, or now for today), ``sessions`` the day's office hours (none on a day off)."""
    ws: dict[int, _Window] = {n: _Window(n) for n in windows}
    for n, waits in (waiting_at_start or {}).items():
        ws.setdefault(n, _Window(n)).waiting = waits
    clock: dict[int, datetime] = dict.fromkeys(ws, start)
    for e in sorted(entries, key=lambda x: x.at):
        w = ws.get(e.window_no)
        if w is None:
            w = ws[e.window_no] = _Window(e.window_no)
        w.spend(clock.get(e.window_no, start), min(e.at, until), sessions)
        clock[e.window_no] = max(clock.get(e.window_no, start), min(e.at, until))
        _apply(w, e, sessions, t)
    rows = []
    for n in sorted(ws):
        w = ws[n]
        w.spend(clock.get(n, start), until, sessions)
        flags = []
        first = sessions[0][0] if sessions else None
        if first is not None and w.first_sign_in is not None and \
                w.first_sign_in > first + timedelta(minutes=t.start_grace_min):
            flags.append("late_start")
        if w.leaves:
            flags.append("early_leave")
        if w.empty_s > t.empty_window_min * 60:
            flags.append("empty_window")
        if w.longest_idle_s > t.idle_while_waiting_min * 60:
            flags.append("idle_while_waiting")
        rows.append({"window_no": n, "staff_id": w.staff_id, "first_sign_in": w.first_sign_in,
                     "last_sign_out": w.last_sign_out, "staffed_s": round(w.staffed_s),
                     "paused_s": round(w.paused_s), "idle_while_waiting_s": round(w.idle_s),
                     "empty_s": round(w.empty_s), "waiting_left": w.waiting_left, "flags": flags})
    return rows


def totals(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """A day's report figures: windows late (迟到), windows leaving early (早退), 空窗 minutes."""
    rows = list(rows)
    return {"late_starts": sum("late_start" in r["flags"] for r in rows),
            "early_leaves": sum("early_leave" in r["flags"] for r in rows),
            "empty_window_min": sum(r["empty_s"] for r in rows) // 60}
