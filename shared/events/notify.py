"""Events of the notify service (短信), never the phone number; and its one request between services of a
site, the contact handover on ``svc.<site>.notify.contacts`` (core NATS request/reply, never federated, never
on a stream: the only message that carries a phone, from the service that took it to notify)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


# --- svc.<site>.notify.contacts ------------------------------------------------------------------------
def service_subject(site: str, service: str, op: str) -> str:
    """A request to a service of the same site (CONTRACT.md: ``svc.<site>.<service>.<op>``, never federated)."""
    return f"svc.{site}.{service}.{op}"


def contacts_subject(site: str) -> str:
    return service_subject(site, "notify", "contacts")


CONTACTS_QUEUE_GROUP = "notify"  # every notify process of the site answers, one per request


class ContactRequest(BaseModel):
    """A phone to text about a ticket or a case. The phone is left out of ``repr`` (so out of any log line or
    error text that shows the model); never log the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)
    ref_type: Literal["ticket", "case"]
    ref_id: uuid.UUID
    phone: str = Field(min_length=1, max_length=20, repr=False)


class ContactReply(BaseModel):
    """``{id, phone_masked}`` when notify has the contact (the same contact for the same ref and phone, however
    often asked), else ``{error, message, retry}``: ``retry`` true for a passing failure (ask again later)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    id: uuid.UUID | None = None
    phone_masked: str | None = None
    error: str | None = None
    message: str | None = None
    retry: bool = False
