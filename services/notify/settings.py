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
    notify_provider: str = "local"  # local | webhook | aliyun | tencent
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
    # Aliyun SMS (阿里云短信, dysmsapi 2017-05-25): AccessKey, endpoint (host[:port]) and protocol, and the
    # registered template code of each of our templates (JSON in the environment: {"ticket_called": "SMS_1…"}).
    notify_aliyun_access_key_id: str | None = Field(None, repr=False)
    notify_aliyun_access_key_secret: str | None = Field(None, repr=False)
    notify_aliyun_endpoint: str = "dysmsapi.aliyuncs.com"
    notify_aliyun_protocol: str = "https"
    notify_aliyun_templates: dict[str, str] = Field(default_factory=dict)
    # Tencent Cloud SMS (腾讯云短信, sms 2021-01-11): SecretId/Key, SmsSdkAppId, region, endpoint, template ids.
    notify_tencent_secret_id: str | None = Field(None, repr=False)
    notify_tencent_secret_key: str | None = Field(None, repr=False)
    notify_tencent_sdk_app_id: str | None = None
    notify_tencent_region: str = "ap-guangzhou"
    notify_tencent_endpoint: str = "sms.tencentcloudapi.com"
    notify_tencent_protocol: str = "https"
    notify_tencent_templates: dict[str, str] = Field(default_factory=dict)
    notify_provider_timeout_s: float = 10.0
    # Shared secret of the delivery-receipt callbacks (回执): ?token=… or the X-Hallnet-Receipt-Token header.
    # Unset: the receipt endpoints answer 404 (no receipts accepted).
    notify_receipt_token: str | None = Field(None, repr=False)
    # Turn approaching (快到您了): once per ticket when at most N people are ahead; the queue service answers.
    notify_approach_ahead: int = Field(3, ge=1, le=50)
    # an SMS asked for before the phone was registered (ticket issued, materials missing) is still sent when the
    # contact arrives within this many seconds of the event (the kiosk registers the phone after the ticket exists)
    notify_late_contact_s: int = Field(600, ge=0, le=86_400)
    # … and for a case (materials missing, ready for pickup, rating link): its phone comes from the matters service
    # over svc.<site>.notify.contacts, maybe late (notify was down); held SMS are dropped after a day anyway
    notify_late_case_contact_s: int = Field(86_400, ge=0, le=86_400)
    notify_approach_poll_s: float = 15.0
    queue_url: str | None = None  # HALLNET_QUEUE_URL, e.g. http://127.0.0.1:8101 (unset: port base + 1)
    # Not-yet-collected reminder (领取提醒): N working days (工作日) after ready_for_pickup.
    notify_pickup_reminder_days: int = Field(3, ge=1, le=60)
    notify_reminder_sweep_s: float = 60.0
    # HALLNET_PUBLIC_URL: the site's public base URL (its gateway), for the rating link <public URL>/r/<invitation id>.
    # Unset: the gateway of ``hallnet up`` (port base + 5, this service is base + 3).
    public_url: str | None = None

    @model_validator(mode="after")
    def _check(self) -> NotifySettings:
        self.quiet_hours  # noqa: B018  (raises on a bad time of day)
        if self.notify_provider not in ("local", "webhook", "aliyun", "tencent"):
            raise ValueError("notify_provider must be local, webhook, aliyun or tencent")
        if self.notify_provider == "webhook" and not self.notify_webhook_url:
            raise ValueError("notify_provider webhook needs notify_webhook_url")
        if self.notify_provider == "aliyun" and not (self.notify_aliyun_access_key_id
                                                     and self.notify_aliyun_access_key_secret):
            raise ValueError("notify_provider aliyun needs notify_aliyun_access_key_id and _secret")
        if self.notify_provider == "tencent" and not (self.notify_tencent_secret_id and self.notify_tencent_secret_key
                                                      and self.notify_tencent_sdk_app_id):
            raise ValueError("notify_provider tencent needs notify_tencent_secret_id, _secret_key and _sdk_app_id")
        for proto in (self.notify_aliyun_protocol, self.notify_tencent_protocol):
            if proto not in ("http", "https"):
                raise ValueError("provider protocol must be http or https")
        return self

    @property
    def quiet_hours(self) -> d.QuietHours:
        return d.QuietHours(d.parse_hhmm(self.notify_quiet_start), d.parse_hhmm(self.notify_quiet_end))

    @property
    def limits(self) -> d.Limits:
        return d.Limits(self.notify_limit_per_template_24h, self.notify_min_interval_s)

    @property
    def public_base_url(self) -> str:
        return (self.public_url or f"http://127.0.0.1:{self.http_port + 2}").rstrip("/")

    @property
    def signature(self) -> str:
        return d.check_signature(self.notify_signature or self.site_name.strip()[:12])
