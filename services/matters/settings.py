"""Settings of the matters service: the shared ones plus its own (``HALLNET_MATTERS_*``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from services.matters.domain import CardPolicy
from shared.settings import Settings


class MattersSettings(Settings):
    service: str = "matters"
    http_port: int = 8102
    # AES-256 key for applicant data at rest: 32 bytes, base64 or hex. Unset (development only): derived
    # from the site's token secret, with a warning at start.
    matters_data_key: str | None = Field(None, repr=False)
    # keys that were in use before a rotation: still read, never written
    matters_old_data_keys: list[str] = Field(default_factory=list, repr=False)
    # yellow card (黄牌): at most this many working days left … (None: rule off)
    matters_yellow_days_left: int | None = 1
    # … or at least this share of the limit used, in % (None: rule off)
    matters_yellow_used_pct: int | None = None
    matters_check_interval_s: float = 60.0  # how often the deadline checker runs
    matters_routes_interval_s: float = 30.0  # how often matter → queue routes are re-published
    # the applicant's phone to the site's notify service (svc.<site>.notify.contacts): asked again this often while
    # notify has not answered, each request waiting this long for the answer
    matters_contacts_interval_s: float = 5.0
    matters_contacts_timeout_s: float = 2.0
    # central's JetStream API seen from this site's NATS, for the downlink (shared/downlink.py); empty when central's
    # stream DOWN is on the site's own server (a federation without leaf servers)
    matters_downlink_api: str = "$JS.central.API"

    @model_validator(mode="after")
    def _card_policy(self) -> MattersSettings:
        self.card_policy  # noqa: B018  (raises on nonsense values)
        return self

    @property
    def card_policy(self) -> CardPolicy:
        return CardPolicy(yellow_days_left=self.matters_yellow_days_left,
                          yellow_used_pct=self.matters_yellow_used_pct)
