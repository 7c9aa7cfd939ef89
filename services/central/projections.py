"""Central's projections of one batch, aggregated in memory: counters per site and day/hour, wait and service-time
histograms, latest windows and queues, complaints, cases, SMS per minute, rating chain entries, and the alerts
events open or resolve. Each event type's aggregation is one method, found by the event's class in ``HANDLERS``;
which alerts an event opens or resolves is decided in ``alerts.EVENT_ALERTS``. ``projection_store.write`` writes
the whole batch with one set-based upsert per table inside the ingest's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from services.central import alerts as al
from services.central import domain as d
from shared.events import matters as mev
from shared.events import notify as nev
from shared.events import queue as qev
from shared.events import ratings as rev
from shared.events import site as sev
from shared.events.base import Envelope, EventData


class At(NamedTuple):
    """Where and when one event happened (``at`` in central's time zone, whose day and hour it counts in)."""

    site: str
    at: datetime
    day: date
    hour: int
    event_id: uuid.UUID


@dataclass
class WindowRow:
    state: str
    staff_id: str | None
    since: datetime
    at: datetime
    staffed_on: date | None
    waiting: int | None = None  # people waiting for its queues (the latest snapshot; None: unchanged)
    busy: bool | None = None  # a ticket at the window (None: unchanged)
    changed: bool = False  # its state changed within the batch: ``since`` is the batch's, whatever was stored


class BatchProjection:
    """In-memory aggregation of one batch's new events (``add`` each, then ``projection_store.write``)."""

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
        self.windows: dict[tuple[str, int], WindowRow] = {}
        self.complaints: dict[Any, dict[str, Any]] = {}
        self.cases: dict[Any, dict[str, Any]] = {}
        self.opens: dict[tuple[str, str, str], tuple[al.Candidate, datetime]] = {}
        self.resolves: dict[tuple[str, str, str], tuple[datetime, str]] = {}
        self.chain: list[tuple[str, int, str, str, str, Any]] = []  # (site, seq, hash, prev, digest, event id)
        # what each rating counted, where (so that its void can take it back), and the voids of this batch
        self.rated: dict[tuple[str, uuid.UUID], tuple[date, int, dict[str, int]]] = {}
        self.voids: dict[tuple[str, uuid.UUID], tuple[uuid.UUID, datetime]] = {}
        # attendance (考勤): what each window did (site, day, window, at, kind, staff, waiting_left), the snapshots'
        # waiting samples (site, window, at, people wait, first of the batch: compared with the stored one) and
        # each window's latest call or finished service (at, busy)
        self.window_log: list[tuple[str, date, int, datetime, str, str | None, int | None]] = []
        self.wait_samples: list[tuple[str, int, datetime, bool, bool]] = []
        self._waits: dict[tuple[str, int], bool] = {}
        self.activity: dict[tuple[str, int], tuple[datetime, bool]] = {}

    def add(self, env: Envelope, data: EventData) -> None:
        """Count one new event: the site heard from, its type's aggregation, the alerts it opens or resolves."""
        at = env.occurred_at.astimezone(self.tz)
        info = self.sites.get(env.site)
        if info is None:
            info = self.sites[env.site] = {"last_event_at": at, "hb": None, "services": {}, "version": None}
        elif at > info["last_event_at"]:
            info["last_event_at"] = at
        kind = type(data)
        handler = HANDLERS.get(kind)
        if handler is not None:
            handler(self, At(env.site, at, at.date(), at.hour, env.id), data)
        rule = al.EVENT_ALERTS.get(kind)
        if rule is not None:
            self._alerts(rule(env.site, data, self.bad_level), at)

    # --- helpers ----------------------------------------------------------------------------------------------------
    def _day(self, site: str, day: date) -> dict[str, int]:
        row = self.days.get((site, day))
        if row is None:
            row = self.days[(site, day)] = dict.fromkeys(d.COUNTERS, 0)
        return row

    def _hour(self, site: str, day: date, hour: int) -> dict[str, int]:
        row = self.hours.get((site, day, hour))
        if row is None:
            row = self.hours[(site, day, hour)] = dict.fromkeys(d.HOUR_COUNTERS, 0)
        return row

    def _hist(self, site: str, day: date, kind: str, seconds: int) -> None:
        key = (site, day, kind, d.bucket_of(seconds))
        self.hist[key] = self.hist.get(key, 0) + 1

    def _window(self, e: At, no: int, state: str, staff_id: str | None, staffed: bool, *, log: str | None = None,
                waiting: int | None = None, busy: bool | None = None, waiting_left: int | None = None) -> None:
        prev = self.windows.get((e.site, no))
        since = prev.since if prev is not None and prev.state == state else e.at
        staffed_on = prev.staffed_on if prev is not None else None
        if staffed:
            staffed_on = max(staffed_on, e.day) if staffed_on else e.day
        if waiting is None and prev is not None:
            waiting = prev.waiting
        if busy is None and prev is not None:
            busy = prev.busy
        changed = prev is not None and (prev.changed or prev.state != state)
        self.windows[(e.site, no)] = WindowRow(state, staff_id, since, e.at, staffed_on, waiting, busy, changed)
        if log is not None:
            self.window_log.append((e.site, e.day, no, e.at, log, staff_id, waiting_left))

    def _activity(self, e: At, no: int, kind: str, staff_id: str | None = None) -> None:
        """A call (busy) or a finished service (free) at window ``no``: logged, and the window's latest activity."""
        self.window_log.append((e.site, e.day, no, e.at, kind, staff_id, None))
        prev = self.activity.get((e.site, no))
        if prev is None or e.at >= prev[0]:
            self.activity[(e.site, no)] = (e.at, kind == "call")

    def _rating(self, e: At, rating_id: uuid.UUID, kind: str, level: int, scale: str | None) -> None:
        """A standing rating (submitted or defaulted) in its day's and hour's figures, counted by the one rule
        (``domain.rating_counters``), and remembered for a later void."""
        counted = d.rating_counters(kind, level, scale)
        row = self._day(e.site, e.day)
        for k, v in counted.items():
            row[k] += v
        h = self._hour(e.site, e.day, e.hour)
        for k, v in d.hour_counters(counted).items():
            h[k] += v
        self.rated[(e.site, rating_id)] = (e.day, e.hour, counted)

    def _chain(self, e: At, data: rev.RatingSubmitted | rev.RatingDefaulted | rev.RatingVoided) -> None:
        """A rating chain entry as its event tells it (events from before the fields existed carry none)."""
        if data.chain_seq is not None and data.chain_hash and data.chain_prev and data.chain_digest:
            self.chain.append((e.site, data.chain_seq, data.chain_hash, data.chain_prev, data.chain_digest,
                               e.event_id))

    def _complaint(self, e: At, data: rev.ComplaintOpened | rev.ComplaintClosed | rev.ComplaintOverdue
                   ) -> dict[str, Any]:
        c = self.complaints.setdefault(data.complaint_id, {"site": e.site, "rating_id": data.rating_id,
                                                           "opened_at": None, "due_at": None,
                                                           "closed_at": None, "overdue": False})
        c["due_at"] = data.due_at or c["due_at"]
        return c

    def _case(self, e: At, case_id: uuid.UUID) -> dict[str, Any]:
        return self.cases.setdefault(case_id, {"site": e.site, "accepted_at": None, "due_at": None,
                                               "warned": None, "completed_at": None, "overdue": False})

    def _alerts(self, change: al.AlertChange, at: datetime) -> None:
        for c in change.opens:
            self.resolves.pop(c.key, None)
            self.opens[c.key] = (c, at)
        for r in change.resolves:
            # opened earlier in the same batch: it is written open first, then resolved (on record either way)
            self.resolves[r.key] = (at, r.note)

    # --- one method per event type (HANDLERS) ---------------------------------------------------------------------
    def heartbeat(self, e: At, data: sev.SiteHeartbeat) -> None:
        info = self.sites[e.site]
        info["hb"] = max(info["hb"], e.at) if info["hb"] else e.at
        for name, status in data.services.items():
            info["services"][name] = {"status": status, "at": e.at.isoformat()}
        info["version"] = data.version

    def ticket_issued(self, e: At, data: qev.TicketIssued) -> None:
        self._day(e.site, e.day)["issued"] += 1
        self._hour(e.site, e.day, e.hour)["issued"] += 1

    def ticket_called(self, e: At, data: qev.TicketCalled) -> None:
        row = self._day(e.site, e.day)
        row["called"] += 1
        self._activity(e, data.window_no, "call", data.staff_id)
        if data.call_no <= 1:  # the wait ends at the first call (recalls add no wait)
            row["wait_sum"] += data.waited_s
            row["wait_n"] += 1
            h = self._hour(e.site, e.day, e.hour)
            h["wait_sum"] += data.waited_s
            h["wait_n"] += 1
            self._hist(e.site, e.day, "w", data.waited_s)

    def ticket_completed(self, e: At, data: qev.TicketCompleted) -> None:
        row = self._day(e.site, e.day)
        row["served"] += 1
        row["service_sum"] += data.served_s
        row["service_n"] += 1
        self._hour(e.site, e.day, e.hour)["served"] += 1
        self._hist(e.site, e.day, "s", data.served_s)
        self._activity(e, data.window_no, "free", data.staff_id)

    def ticket_no_show(self, e: At, data: qev.TicketNoShow) -> None:
        self._day(e.site, e.day)["no_shows"] += 1
        self._activity(e, data.window_no, "free")

    def ticket_cancelled(self, e: At, data: qev.TicketCancelled) -> None:
        if data.reason == "closed_unserved":  # still in line when the hall closed: turned away (闭厅未办)
            self._day(e.site, e.day)["turned_away"] += 1
        elif data.reason != "day_closed":  # the sweep of an earlier day's leftovers is not a citizen's cancel
            self._day(e.site, e.day)["cancelled"] += 1

    def ticket_transferred(self, e: At, data: qev.TicketTransferred) -> None:
        self._day(e.site, e.day)["transferred"] += 1
        if data.from_window_no is not None:
            self._activity(e, data.from_window_no, "free")

    def window_signed_in(self, e: At, data: qev.WindowSignedIn) -> None:
        self._window(e, data.window_no, "open", data.staff_id, True, log="in", busy=False)
        self._day(e.site, e.day)  # the day row carries the first sign-in
        key = (e.site, e.day)
        self.first_sign_in[key] = min(self.first_sign_in.get(key, e.at), e.at)

    def window_signed_out(self, e: At, data: qev.WindowSignedOut) -> None:
        self._window(e, data.window_no, "closed", None, True, log="out", busy=False, waiting_left=data.waiting_left)

    def window_paused(self, e: At, data: qev.WindowPaused) -> None:
        self._window(e, data.window_no, "paused", data.staff_id, True, log="pause")

    def window_resumed(self, e: At, data: qev.WindowResumed) -> None:
        self._window(e, data.window_no, "open", data.staff_id, True, log="resume")

    def queue_snapshot(self, e: At, data: qev.QueueSnapshot) -> None:
        self.snapshots[e.site] = (e.at, list(data.queues))
        for w in data.windows:
            state = w.state if w.state in ("closed", "paused") else "open"  # serving: staffed and open
            self._window(e, w.window_no, state, w.staff_id, state != "closed", waiting=w.waiting, busy=w.busy)
            if w.waiting is not None:  # a change of "people wait for its queues" goes into the window log
                key, waits = (e.site, w.window_no), w.waiting > 0
                before = self._waits.get(key)
                if before is None or before != waits:
                    self.wait_samples.append((e.site, w.window_no, e.at, waits, before is None))
                self._waits[key] = waits

    def invitation_opened(self, e: At, data: rev.InvitationOpened) -> None:
        """One more service to be rated (一次一评 ticket or 一事一评 case): the denominator of 参评率."""
        self._day(e.site, e.day)["invitations"] += 1

    def rating_submitted(self, e: At, data: rev.RatingSubmitted) -> None:
        self._chain(e, data)
        self._rating(e, data.rating_id, "submitted", data.level, data.scale)  # its alert: alerts.bad_rating

    def rating_defaulted(self, e: At, data: rev.RatingDefaulted) -> None:
        self._chain(e, data)
        self._rating(e, data.rating_id, "defaulted", data.level, data.scale or self.scales.get(e.site))

    def rating_voided(self, e: At, data: rev.RatingVoided) -> None:
        """The voided rating leaves every figure of its day: ``projection_store`` takes back what it counted."""
        self._chain(e, data)
        self.voids.setdefault((e.site, data.voids), (data.rating_id, e.at))

    def complaint_opened(self, e: At, data: rev.ComplaintOpened) -> None:
        self._day(e.site, e.day)["complaints_opened"] += 1
        self._complaint(e, data)["opened_at"] = e.at

    def complaint_closed(self, e: At, data: rev.ComplaintClosed) -> None:
        self._day(e.site, e.day)["complaints_closed"] += 1
        self._complaint(e, data)["closed_at"] = e.at

    def complaint_overdue(self, e: At, data: rev.ComplaintOverdue) -> None:
        self._day(e.site, e.day)["complaints_overdue"] += 1
        self._complaint(e, data)["overdue"] = True

    def case_accepted(self, e: At, data: mev.CaseAccepted) -> None:
        self._day(e.site, e.day)["cases_accepted"] += 1
        c = self._case(e, data.case_id)
        c["accepted_at"], c["due_at"] = e.at, data.due_at

    def case_warned(self, e: At, data: mev.CaseWarned) -> None:
        self._day(e.site, e.day)[f"cases_{data.level}"] += 1
        c = self._case(e, data.case_id)
        c["due_at"] = data.due_at
        if c["warned"] != "red":
            c["warned"] = data.level

    def case_completed(self, e: At, data: mev.CaseCompleted) -> None:
        row = self._day(e.site, e.day)
        row["cases_completed"] += 1
        row["cases_overdue"] += data.overdue
        c = self._case(e, data.case_id)
        c["completed_at"], c["overdue"] = e.at, data.overdue

    def _sms(self, e: At, failed: bool) -> None:
        self._day(e.site, e.day)["sms_failed" if failed else "sms_sent"] += 1
        minute = e.at.astimezone(UTC).replace(second=0, microsecond=0)
        slot = self.sms.setdefault((e.site, minute), [0, 0])
        slot[1 if failed else 0] += 1

    def sms_sent(self, e: At, data: nev.SmsSent) -> None:
        self._sms(e, failed=False)

    def sms_failed(self, e: At, data: nev.SmsFailed) -> None:
        if data.final:  # else a retry will follow: only final outcomes count
            self._sms(e, failed=True)


# the aggregation of each event type central counts (other known types only mark the site as heard from)
HANDLERS: dict[type[EventData], Callable[[BatchProjection, At, Any], None]] = {
    sev.SiteHeartbeat: BatchProjection.heartbeat,
    qev.TicketIssued: BatchProjection.ticket_issued,
    qev.TicketCalled: BatchProjection.ticket_called,
    qev.TicketCompleted: BatchProjection.ticket_completed,
    qev.TicketNoShow: BatchProjection.ticket_no_show,
    qev.TicketCancelled: BatchProjection.ticket_cancelled,
    qev.TicketTransferred: BatchProjection.ticket_transferred,
    qev.WindowSignedIn: BatchProjection.window_signed_in,
    qev.WindowSignedOut: BatchProjection.window_signed_out,
    qev.WindowPaused: BatchProjection.window_paused,
    qev.WindowResumed: BatchProjection.window_resumed,
    qev.QueueSnapshot: BatchProjection.queue_snapshot,
    rev.InvitationOpened: BatchProjection.invitation_opened,
    rev.RatingSubmitted: BatchProjection.rating_submitted,
    rev.RatingDefaulted: BatchProjection.rating_defaulted,
    rev.RatingVoided: BatchProjection.rating_voided,
    rev.ComplaintOpened: BatchProjection.complaint_opened,
    rev.ComplaintClosed: BatchProjection.complaint_closed,
    rev.ComplaintOverdue: BatchProjection.complaint_overdue,
    mev.CaseAccepted: BatchProjection.case_accepted,
    mev.CaseWarned: BatchProjection.case_warned,
    mev.CaseCompleted: BatchProjection.case_completed,
    nev.SmsSent: BatchProjection.sms_sent,
    nev.SmsFailed: BatchProjection.sms_failed,
}
