"""Events of the notify service (短信). Never the phone number."""

from __future__ import annotations

import uuid

from shared.events.base import EventData


class _SmsEvent(EventData):
    message_id: uuid.UUID
    template: str
    segments: int
    ref_type: str
    ref_id: uuid.UUID | str
    error_code: str | None = None
    final: bool = True


class SmsSent(_SmsEvent):
    TYPE = "notify.sms.sent"


class SmsFailed(_SmsEvent):
    TYPE = "notify.sms.failed"
