"""Settings of the ratings service: the shared ones plus its own (``HALLNET_RATINGS_*``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from services.ratings.domain import SCALES
from shared.settings import Settings


class RatingsSettings(Settings):
    service: str = "ratings"
    http_port: int = 8103
    ratings_scale: str = "national5"  # national5 (全国五级) or seeds4 (非常满意/满意/一般/不满意)
    # the rating device shows the window's latest completed service for this long (minutes)
    ratings_invitation_minutes: float = 10.0
    # an invitation not rated within this time counts as the scale's default level (Guangdong: 7 days)
    ratings_expiry_s: float = 7 * 86_400.0
    ratings_expiry_check_interval_s: float = 60.0
    # a bad rating's follow-up is due this many working days after it (regions use 1 to 15)
    ratings_complaint_due_days: int = Field(5, ge=1, le=30)
    # abuse protection (限流), per process, sliding one-minute windows → 429 with Retry-After
    ratings_submit_per_ip_per_min: int = Field(30, ge=1)  # rating submissions per client address
    ratings_submit_per_invitation_per_min: int = Field(20, ge=1)  # submissions for one invitation, any address
    ratings_lookup_per_ip_per_min: int = Field(60, ge=1)  # GET /invitations/{id} per address (id enumeration)
    # take the client address from X-Forwarded-For (only behind the site's own reverse proxy)
    ratings_trust_forwarded_for: bool = False
    # the key sealing the citizens' free text at rest (32 bytes, base64 or hex; shared/crypto.py); older keys
    # still open what they sealed. Unset: a key derived from the token secret (development only, warned at start)
    ratings_data_key: str | None = Field(None, repr=False)
    ratings_old_data_keys: list[str] = Field(default_factory=list, repr=False)

    @field_validator("ratings_scale")
    @classmethod
    def _known_scale(cls, v: str) -> str:
        if v not in SCALES:
            raise ValueError(f"unknown rating scale {v!r} (known: {', '.join(SCALES)})")
        return v
