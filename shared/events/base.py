"""The event envelope of CONTRACT.md and the registry of event types.

Every event type is one pydantic model with ``TYPE`` (the contract's type string); the subject is
derived from it (``hall.<site>.<type>``), never typed twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.clock import iso, now
from shared.ids import uuid7
from shared.settings import SITE_ID_RE

REGISTRY: dict[str, type[EventData]] = {}


Upcast = Callable[[dict[str, Any]], dict[str, Any]]


class EventData(BaseModel):
    """Base of every event's ``data``. Unknown fields are ignored, as the contract asks.

    ``VERSION`` is the version this code writes. When a type changes incompatibly it gets ``VERSION = n + 1``
    and ``UPCASTS[n]``, a function turning version-n data into version n+1, so that events of older sites
    (and those still in the streams) keep applying: ``Envelope.typed`` runs the chain."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    UPCASTS: ClassVar[dict[int, Upcast]] = {}

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
        """The data as its registered model, upcast from an older version (raises PoisonMessage for an unknown
        type, a version this code cannot read, or data that does not validate)."""
        model = REGISTRY.get(self.type)
        if model is None:
            raise PoisonMessage(f"unknown event type {self.type!r}", kind=UNKNOWN_TYPE)
        data, version = self.data, self.version
        while version < model.VERSION:
            upcast = model.UPCASTS.get(version)
            if upcast is None:
                break
            data, version = upcast(dict(data)), version + 1
        if version != model.VERSION:
            readable = sorted({*model.UPCASTS, model.VERSION})
            raise PoisonMessage(f"unknown version {self.version} of {self.type} (this code reads {readable})",
                                kind=UNKNOWN_VERSION)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise PoisonMessage(f"invalid {self.type} data: {exc.error_count()} errors", kind=INVALID_DATA) from exc


# why a message is poison: the one classification every consumer and central's ingest use (shared/deadletter.py)
BAD_ENVELOPE = "bad_envelope"  # not JSON, not an envelope, a bad site id
SUBJECT_MISMATCH = "subject_mismatch"  # the subject disagrees with the envelope's site or type
UNKNOWN_TYPE = "unknown_type"
UNKNOWN_VERSION = "unknown_version"  # newer than this code, or older without an upcast
INVALID_DATA = "invalid_data"  # does not validate against the type's model


class PoisonMessage(Exception):
    """A message that will never be processed, however often it is redelivered: dead-letter it."""

    def __init__(self, message: str, *, kind: str = BAD_ENVELOPE) -> None:
        super().__init__(message)
        self.kind = kind


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
        raise PoisonMessage(f"subject {subject} does not match envelope site/type {env.subject}",
                            kind=SUBJECT_MISMATCH)
    return env
