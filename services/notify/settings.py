"""Settings of the notify service: the shared ones plus its own (``HALLNET_NOTIFY_*``)."""

from __future__ import annotations

from pydantic import Field, model_validator

from services.notify import domain as d
from shared.settings import Settings


class NotifySettings(Settings):
    service: str = "notify"
    http_port: int = 8104
    # AES-256 key for phone numbers at rest: 32 bytes, base64 or hex. Unset (development only): derived from
    # the site's token secret, with a warning at start.
    notify_data_key: str | None = Field(None, repr=False)
    notify_old_data_keys: list[str] = Field(default_factory=list, repr=False)
    notify_signature: str | None = None  # 【签名】 2–12 characters; default: the site name (cut to 12)
    notify_provider: str = "local"  # local | webhook
    notify_webhook_url: str | None = None
    notify_webhook_token: str | None = Field(None, repr=False)
    notify_webhook_timeout_s: float = 5.0
    notify_retention_days: float = 30.0  # contacts (and the phone kept with their messages) are deleted after
    notify_limit_per_template_24h: int = 50
    notify_min_interval_s: float = 30.0
    notify_quiet_start: str = "21:00"  # reminders wait until the end of quiet hours (a call never does)
    notify_quiet_end: str = "08:00"
    notify_max_attempts: int = 5
    notify_retry_base_s: float = 2.0
    notify_send_poll_s: float = 1.0
    notify_sweep_interval_s: float = 3600.0

    @model_validator(mode="after")
    def _check(self) -> NotifySettings:
        self.quiet_hours  # noqa: B018  (raises on a bad time of day)
        if self.notify_provider not in ("local", "webhook"):
            raise ValueError("notify_provider must be local or webhook")
        if self.notify_provider == "webhook" and not self.notify_webhook_url:
            raise ValueError("notify_provider webhook needs notify_webhook_url")
        return self

    @property
    def quiet_hours(self) -> d.QuietHours:
        return d.QuietHours(d.parse_hhmm(self.notify_quiet_start), d.parse_hhmm(self.notify_quiet_end))

    @property
    def limits(self) -> d.Limits:
        return d.Limits(self.notify_limit_per_template_24h, self.notify_min_interval_s)

    @property
    def signature(self) -> str:
        return d.check_signature(self.notify_signature or self.site_name.strip()[:12])
