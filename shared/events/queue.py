"""Events of the queue service (叫号)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.events.base import EventData

Priority = Literal["normal", "green", "appointment"]


class TicketIssued(EventData):
    TYPE = "queue.ticket.issued"
    ticket_id: uuid.UUID
    number: str
    queue_id: uuid.UUID
    matter_id: str | None
    priority: Priority
    channel: str
    ahead: int
    estimated_wait_s: int


class TicketCalled(EventData):
    TYPE = "queue.ticket.called"
    ticket_id: uuid.UUID
    number: str
    queue_id: uuid.UUID
    window_no: int
    staff_id: str
    call_no: int
    waited_s: int


class TicketStarted(EventData):
    TYPE = "queue.ticket.started"
    ticket_id: uuid.UUID
    window_no: int
    staff_id: str


class TicketCompleted(EventData):
    TYPE = "queue.ticket.completed"
    ticket_id: uuid.UUID
    number: str
    queue_id: uuid.UUID
    matter_id: str | None
    window_no: int
    staff_id: str
    waited_s: int
    served_s: int


class TicketNoShow(EventData):
    TYPE = "queue.ticket.no_show"
    ticket_id: uuid.UUID
    window_no: int
    calls: int


class TicketRequeued(EventData):
    """Extension: a no-show ticket put back into its queue (过号重排)."""

    TYPE = "queue.ticket.requeued"
    ticket_id: uuid.UUID
    queue_id: uuid.UUID
    window_no: int | None = None


class TicketTransferred(EventData):
    TYPE = "queue.ticket.transferred"
    ticket_id: uuid.UUID
    from_window_no: int | None
    to_queue_id: uuid.UUID | None = None
    to_window_no: int | None = None


class TicketCancelled(EventData):
    TYPE = "queue.ticket.cancelled"
    ticket_id: uuid.UUID
    reason: str


class WindowSignedIn(EventData):
    TYPE = "queue.window.signed_in"
    window_no: int
    staff_id: str


class WindowSignedOut(EventData):
    TYPE = "queue.window.signed_out"
    window_no: int
    staff_id: str
    # hallnet extension: people issued before closing still waiting for the window's queues when the clerk signed
    # out anyway, after the warning (不接待完最后一位群众不下班); None from older sites and forced sign-outs
    waiting_left: int | None = None


class SessionEnded(EventData):
    """A clerk's window session or a duty manager's session ended (hallnet extension): every service of the
    site refuses its token from now on (shared/sessions.py)."""

    TYPE = "queue.session.ended"
    session_id: uuid.UUID
    staff_id: str
    role: str  # the token's role: A / B (window clerk) or manager
    reason: Literal["signed_out", "replaced", "deactivated", "ended_by_manager"]


class WindowPaused(EventData):
    TYPE = "queue.window.paused"
    window_no: int
    staff_id: str
    reason: str | None = None


class WindowResumed(EventData):
    TYPE = "queue.window.resumed"
    window_no: int
    staff_id: str
    reason: str | None = None


class QueueSnapshotItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    queue_id: uuid.UUID
    waiting: int
    longest_wait_s: int
    windows_open: int


class WindowSnapshotItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    window_no: int
    state: str
    staff_id: str | None
    # hallnet extensions (attendance at central): people waiting for the queues this window serves, and whether a
    # ticket is called or served at it now; None from older sites
    waiting: int | None = None
    busy: bool | None = None


class QueueSnapshot(EventData):
    TYPE = "queue.snapshot"
    queues: list[QueueSnapshotItem]
    windows: list[WindowSnapshotItem]
