"""Abuse protection of the ratings service (限流): rating submissions per client address and per invitation,
invitation lookups per address (someone enumerating ids). Sliding one-minute windows, per process; over the
limit is a 429 with ``Retry-After``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from services.ratings.settings import RatingsSettings
from shared.ratelimit import SlidingWindowLimiter

SUBMIT_MESSAGE = "评价提交过于频繁，请稍后再试 / too many rating attempts, try again later"
LOOKUP_MESSAGE = "查询过于频繁，请稍后再试 / too many invitation lookups, try again later"


class RatingLimits:
    def __init__(self, settings: RatingsSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.submit_ip = SlidingWindowLimiter(settings.ratings_submit_per_ip_per_min, 60.0, clock=clock)
        self.submit_invitation = SlidingWindowLimiter(settings.ratings_submit_per_invitation_per_min, 60.0,
                                                      clock=clock)
        self.lookup_ip = SlidingWindowLimiter(settings.ratings_lookup_per_ip_per_min, 60.0, clock=clock)

    def submit(self, ip: str, invitation_id: uuid.UUID) -> None:
        """One rating attempt (counted before anything else, so failed attempts count too)."""
        self.submit_ip.check(ip, SUBMIT_MESSAGE, limit="per_ip")
        self.submit_invitation.check(str(invitation_id), SUBMIT_MESSAGE, limit="per_invitation")

    def lookup(self, ip: str) -> None:
        self.lookup_ip.check(ip, LOOKUP_MESSAGE, limit="per_ip")
