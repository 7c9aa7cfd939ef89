"""The event envelope of CONTRACT.md and the registry of event types.

Every event type is one pydantic model with ``TYPE`` (the contract's type string); the subject is
derived from it (``hall.<site>.<type>``), never typed twice.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.clock import iso, now
from shared.ids import uuid7
from shared.settings import SITE_ID_RE

REGISTRY: dict[str, type[EventData]] = {}


class EventData(BaseModel):
    """Base of every event's ``data``. Unknown fields are ignored, as the contract asks."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            if cls.TYPE in REGISTRY:
                raise TypeError(f"event type {cls.TYPE} registered twice")
            REGISTRY[cls.TYPE] = cls


class Envelope(BaseModel):
    """``{"id", "type", "version", "site", "occurred_at", "data"}``."""

    model_config = ConfigDict(extra="ignore")
    id: uuid.UUID = Field(default_factory=uuid7)
    type: str
    version: int = 1
    site: str
    occurred_at: datetime = Field(default_factory=now)
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        return subject_for(self.site, self.type)

    @property
    def msg_id(self) -> str:
        return f"{self.site}:{self.id}"

    def to_bytes(self) -> bytes:
        body = {
            "id": str(self.id),
            "type": self.type,
            "version": self.version,
            "site": self.site,
            "occurred_at": iso(self.occurred_at),
            "data": self.data,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    def typed(self) -> EventData:
        """The data as its registered model (raises PoisonMessage when it does not validate)."""
        model = REGISTRY.get(self.type)
        if model is None:
            raise PoisonMessage(f"unknown event type {self.type!r}")
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {self.type} data: {exc.error_count()} errors") from exc


class PoisonMessage(Exception):
    """A message that will never be processed, however often it is redelivered: dead-letter it."""


def subject_for(site: str, event_type: str) -> str:
    return f"hall.{site}.{event_type}"


def make_event(site: str, data: EventData, occurred_at: datetime | None = None) -> Envelope:
    if not data.TYPE:
        raise TypeError(f"{type(data).__name__} has no TYPE")
    return Envelope(
        type=data.TYPE,
        version=data.VERSION,
        site=site,
        occurred_at=occurred_at or now(),
        data=data.model_dump(mode="json", exclude_none=False),
    )


def parse_envelope(raw: bytes, subject: str | None = None) -> Envelope:
    """Parse and check an envelope; a subject that disagrees with site or type is poison."""
    try:
        env = Envelope.model_validate_json(raw)
    except ValidationError as exc:
        raise PoisonMessage(f"not an event envelope: {exc.error_count()} errors") from exc
    if not SITE_ID_RE.match(env.site):
        raise PoisonMessage(f"bad site id {env.site!r}")
    if subject is not None and subject != env.subject:
        raise PoisonMessage(f"subject {subject} does not match envelope site/type {env.subject}")
    return env
