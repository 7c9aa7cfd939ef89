"""Event envelope and one model per contract event type; importing this registers them all."""

from shared.events import central, matters, notify, queue, ratings, site  # noqa: F401  (registers the types)
from shared.events.base import (
    REGISTRY,
    Envelope,
    EventData,
    PoisonMessage,
    make_event,
    parse_envelope,
    subject_for,
)

__all__ = [
    "REGISTRY",
    "Envelope",
    "EventData",
    "PoisonMessage",
    "make_event",
    "parse_envelope",
    "subject_for",
]
