"""Time-ordered UUIDs (v7), as the contract prefers."""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit unix milliseconds, then random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


# Queues are named by uuid5(QUEUE_NS, "<site>:<prefix>"): every service of a site (queue, matters) agrees on
# a queue's id from its prefix, and a re-seed keeps the ids. The id scheme is part of the wire contract.
QUEUE_NS = uuid.UUID("5b0c1f4e-4c5e-4d8e-9b7a-2f3c7a1e9d10")


def queue_uuid(site: str, prefix: str) -> uuid.UUID:
    return uuid.uuid5(QUEUE_NS, f"{site}:{prefix}")
