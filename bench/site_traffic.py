"""Realistic contract events of one hall, for the federation benchmarks: tickets issued, called, started,
completed or no-show, ratings, SMS sends, window snapshots and heartbeats, in the proportions a hall day has.
Every event is a real envelope (``shared.events``) with a fresh UUIDv7 id; ``occurred_at`` is set when it is
published, so central can measure site → central latency from the envelope alone."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator

from shared.events.base import Envelope, EventData, make_event
from shared.events.queue import (
    QueueSnapshot,
    QueueSnapshotItem,
    TicketCalled,
    TicketCompleted,
    TicketIssued,
    TicketNoShow,
    TicketStarted,
    WindowSnapshotItem,
)
from shared.events.site import SiteHeartbeat
from shared.ids import queue_uuid


class SiteTraffic:
    """An endless, deterministic (seeded) stream of one site's events."""

    def __init__(self, site: str, *, windows: int = 12, seed: int = 0) -> None:
        self.site = site
        self.rng = random.Random(f"{site}:{seed}")
        self.windows = windows
        self.queues = [queue_uuid(site, p) for p in "ABC"]
        self.waiting: list[tuple[uuid.UUID, str, uuid.UUID]] = []
        self.serving: dict[int, tuple[uuid.UUID, str, uuid.UUID]] = {}
        self.counter = 0
        self.emitted = 0
        self.counts: Counter[str] = Counter()  # events emitted, by type

    def _ticket(self) -> TicketIssued:
        self.counter += 1
        q = self.rng.randrange(3)
        ticket = (uuid.uuid4(), f"{'ABC'[q]}{self.counter % 1000:03d}", self.queues[q])
        self.waiting.append(ticket)
        return TicketIssued(ticket_id=ticket[0], number=ticket[1], queue_id=ticket[2], matter_id="yl-txsq",
                            priority="normal", channel="kiosk", ahead=len(self.waiting) - 1,
                            estimated_wait_s=60 * len(self.waiting))

    def _next(self) -> list[EventData]:
        roll = self.rng.random()
        if roll < 0.02:
            return [SiteHeartbeat(services={"queue": "ok", "matters": "ok"}, version="bench")]
        if roll < 0.04:
            return [QueueSnapshot(
                queues=[QueueSnapshotItem(queue_id=q, waiting=len(self.waiting), longest_wait_s=600,
                                          windows_open=self.windows // 3) for q in self.queues],
                windows=[WindowSnapshotItem(window_no=w, state="serving" if w in self.serving else "open",
                                            staff_id=f"s{w:03d}") for w in range(1, self.windows + 1)])]
        free = [w for w in range(1, self.windows + 1) if w not in self.serving]
        if roll < 0.40 or not self.waiting or not free and not self.serving:
            return [self._ticket()]
        if free and self.waiting and roll < 0.70:
            w = self.rng.choice(free)
            t = self.waiting.pop(0)
            if self.rng.random() < 0.05:
                return [TicketCalled(ticket_id=t[0], number=t[1], queue_id=t[2], window_no=w, staff_id=f"s{w:03d}",
                                     call_no=1, waited_s=self.rng.randint(30, 3600)),
                        TicketNoShow(ticket_id=t[0], window_no=w, calls=2)]
            self.serving[w] = t
            return [TicketCalled(ticket_id=t[0], number=t[1], queue_id=t[2], window_no=w, staff_id=f"s{w:03d}",
                                 call_no=1, waited_s=self.rng.randint(30, 3600)),
                    TicketStarted(ticket_id=t[0], window_no=w, staff_id=f"s{w:03d}")]
        if self.serving:
            w = self.rng.choice(list(self.serving))
            t = self.serving.pop(w)
            return [TicketCompleted(ticket_id=t[0], number=t[1], queue_id=t[2], matter_id="yl-txsq", window_no=w,
                                    staff_id=f"s{w:03d}", waited_s=self.rng.randint(30, 3600),
                                    served_s=self.rng.randint(60, 900))]
        return [self._ticket()]

    def events(self) -> Iterator[Envelope]:
        while True:
            for data in self._next():
                self.emitted += 1
                self.counts[data.TYPE] += 1
                yield make_event(self.site, data)
