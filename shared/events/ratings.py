"""Events of the ratings service (好差评)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from shared.events.base import EventData


class RatingSubmitted(EventData):
    TYPE = "ratings.rating.submitted"
    rating_id: uuid.UUID
    subject: Literal["ticket", "case"]
    subject_id: uuid.UUID
    window_no: int | None
    staff_id: str | None
    matter_id: str | None
    scale: str
    level: int
    indicators: dict[str, int] = {}
    channel: str
    chain_seq: int
    chain_hash: str
    chain_prev: str | None = None  # additive (shared.chain): the previous entry's hash and this entry's digest,
    chain_digest: str | None = None  # so that central can check the link from the events alone


class RatingDefaulted(EventData):
    TYPE = "ratings.rating.defaulted"
    rating_id: uuid.UUID
    subject_id: uuid.UUID
    level: int
    scale: str | None = None  # additive: the scale the default level is on (absent: the site's configured scale)
    chain_seq: int | None = None  # additive: the defaulted entry's place in the site's chain
    chain_hash: str | None = None
    chain_prev: str | None = None
    chain_digest: str | None = None


class RatingVoided(EventData):
    """Extension: an appeal (申诉复核) voided a rating by a new entry of the site's chain."""

    TYPE = "ratings.rating.voided"
    rating_id: uuid.UUID  # the voiding entry
    voids: uuid.UUID  # the rating it voids
    chain_seq: int
    chain_hash: str
    chain_prev: str
    chain_digest: str


class _ComplaintEvent(EventData):
    complaint_id: uuid.UUID
    rating_id: uuid.UUID
    due_at: datetime | None = None
    outcome: str | None = None


class ComplaintOpened(_ComplaintEvent):
    TYPE = "ratings.complaint.opened"


class ComplaintVerified(_ComplaintEvent):
    TYPE = "ratings.complaint.verified"


class ComplaintRectified(_ComplaintEvent):
    """``outcome`` ``rectified`` (done), or ``rectifying`` with ``rectify_by`` (限期整改: promised by that day)."""

    TYPE = "ratings.complaint.rectified"
    rectify_by: date | None = None  # additive


class ComplaintExplained(_ComplaintEvent):
    TYPE = "ratings.complaint.explained"


class ComplaintAppealed(_ComplaintEvent):
    TYPE = "ratings.complaint.appealed"


class ComplaintAppealRejected(_ComplaintEvent):
    """Additive: a second manager rejected the appeal (复核驳回): the bad rating stands and its follow-up goes on
    (``outcome`` ``rejected``). An upheld appeal closes the complaint instead (``closed``, outcome ``voided``)."""

    TYPE = "ratings.complaint.appeal_rejected"


class ComplaintClosed(_ComplaintEvent):
    """``outcome`` ``rectified``, ``explained`` or ``voided`` (申诉复核 upheld: the rating is voided)."""

    TYPE = "ratings.complaint.closed"


class ComplaintOverdue(_ComplaintEvent):
    """Additive: a complaint not closed by its ``due_at`` (emitted once per complaint)."""

    TYPE = "ratings.complaint.overdue"


class InvitationOpened(EventData):
    """Additive: a completed ticket (一次一评) or case (一事一评) opened its rating invitation. The notify service
    sends the citizen the phone rating link ``<site public URL>/r/<invitation_id>``; no personal data here."""

    TYPE = "ratings.invitation.opened"
    invitation_id: uuid.UUID
    subject: Literal["ticket", "case"]
    subject_id: uuid.UUID
    window_no: int | None
    matter_id: str | None
    expires_at: datetime
