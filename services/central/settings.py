"""Settings of the central service: the shared ones plus its own (``HALLNET_CENTRAL_*``).

``NATS_URL`` points at central's NATS (with the ``hallnet`` user's credentials), ``DATABASE_URL`` at central's own
database. Sites come from ``HALLNET_CENTRAL_SITES`` (JSON list of ``{id, name, scale?, office_hours?}``) or the JSON
file ``HALLNET_CENTRAL_SITES_FILE``; supervisors from ``HALLNET_CENTRAL_SUPERVISORS`` (JSON ``{user: scrypt hash}``,
hashes from ``shared.auth.hash_password``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from services.central.domain import SiteConfig, Thresholds
from shared.settings import Settings


class CentralSettings(Settings):
    service: str = "central"
    site: str = "central"
    site_name: str = "监管中心"
    http_port: int = 8200
    central_stream: str = "CENTRAL"  # the stream sourcing every site (hallnet.natsconf.CENTRAL_STREAM)
    central_durable: str = "central"  # durable pull consumer; dead letters go to deadletter.central.<durable>
    central_batch: int = Field(1000, ge=1, le=10_000)  # events fetched and applied in one transaction
    central_fetch_timeout_s: float = 0.2  # a fetch waits at most this long to fill a batch (adds to latency)
    central_ack_wait_s: float = 60.0
    central_sites: list[SiteConfig] = Field(default_factory=list)
    central_sites_file: str | None = None
    central_supervisors: dict[str, str] = Field(default_factory=dict)
    central_token_ttl_s: int = 12 * 3600
    central_eval_interval_s: float = 5.0  # the periodic alert evaluation (also after batches, at most this often)
    central_inbox_keep_days: int = Field(45, ge=1)  # inbox rows older than this are pruned
    # default alert thresholds (PUT /thresholds overrides them in the database)
    central_long_wait_s: int = 1800
    central_queue_per_window: float = 10.0
    central_empty_window_min: int = 15
    central_start_grace_min: int = 10
    central_leave_grace_min: int = 10
    central_idle_while_waiting_min: int = 10
    central_bad_rating_level: int = 2
    central_offline_after_s: int = 30
    central_sms_failure_rate: float = 0.2
    central_sms_window_min: int = 30

    @field_validator("central_sites", mode="before")
    @classmethod
    def _sites_as_mapping(cls, v: Any) -> Any:
        """``{"zhuzhou": "株洲…", …}`` is accepted as well as the list of objects."""
        if isinstance(v, dict):
            return [{"id": k, **(x if isinstance(x, dict) else {"name": x})} for k, x in v.items()]
        return v

    def sites(self) -> list[SiteConfig]:
        """The configured sites: the list in the settings, then those of the file (the file wins on an id)."""
        found = {s.id: s for s in self.central_sites}
        if self.central_sites_file:
            raw: Any = json.loads(Path(self.central_sites_file).read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                raw = raw.get("sites", [])
            for item in raw:
                s = SiteConfig.model_validate(item)
                found[s.id] = s
        return list(found.values())

    def default_thresholds(self) -> Thresholds:
        return Thresholds(long_wait_s=self.central_long_wait_s, queue_per_window=self.central_queue_per_window,
                          empty_window_min=self.central_empty_window_min,
                          start_grace_min=self.central_start_grace_min, leave_grace_min=self.central_leave_grace_min,
                          idle_while_waiting_min=self.central_idle_while_waiting_min,
                          bad_rating_level=self.central_bad_rating_level,
                          offline_after_s=self.central_offline_after_s,
                          sms_failure_rate=self.central_sms_failure_rate, sms_window_min=self.central_sms_window_min)
