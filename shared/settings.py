"""Settings from the environment and an optional TOML/JSON file (``HALLNET_CONFIG``).

``NATS_URL`` and ``DATABASE_URL`` are read without prefix so that one service can be pointed at
existing servers the usual way; everything else is ``HALLNET_<NAME>``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SITE_ID_RE = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


class _FileSource(PydanticBaseSettingsSource):
    """Reads the file named by HALLNET_CONFIG (.toml or .json); environment wins over it."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("HALLNET_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            text = Path(path).read_text(encoding="utf-8")
            self._data = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """What one service process of one site needs to run."""

    model_config = SettingsConfigDict(env_prefix="HALLNET_", extra="ignore")

    site: str = "demo"  # 大厅 id, e.g. zhuzhou
    site_name: str = "演示大厅"
    service: str = "queue"
    nats_url: str = Field(
        "nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL", "HALLNET_NATS_URL")
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/hallnet",
        validation_alias=AliasChoices("DATABASE_URL", "HALLNET_DATABASE_URL"),
    )
    js_domain: str | None = None  # JetStream domain of the site's leaf server (defaults to none)
    stream: str | None = None  # site stream name; default derived from the site id
    http_host: str = "127.0.0.1"
    http_port: int = 8101
    # shared by every service of a site to verify clerk tokens; hallnet up generates one per site
    token_secret: str = "dev-only-change-me"  # noqa: S105  (a development default, replaced in every deployment)
    timezone: str = "Asia/Shanghai"
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"
    otel_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "HALLNET_OTEL_ENDPOINT"),
    )
    max_deliver: int = 5  # deliveries before a message is dead-lettered
    snapshot_interval_s: float = 15.0
    heartbeat_interval_s: float = 5.0
    enforce_office_hours: bool = True
    seed_file: str | None = None  # site configuration loaded at start (demo data)
    version: str = "0.1.0"
    # development mode (set by ``hallnet up`` only): a test clock, read by shared/clock.py from these variables
    dev_mode: bool = False
    dev_now: str | None = None  # HALLNET_DEV_NOW: the clock starts at this ISO time (with offset) and runs on
    dev_clock_offset_s: float = 0.0  # HALLNET_DEV_CLOCK_OFFSET_S: or runs this many seconds ahead (behind if < 0)

    @field_validator("site")
    @classmethod
    def _site_id(cls, v: str) -> str:
        if v != "central" and not SITE_ID_RE.match(v):
            raise ValueError(f"site id {v!r} must match {SITE_ID_RE.pattern}")
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def stream_name(self) -> str:
        return self.stream or site_stream_name(self.site)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls), file_secret_settings)


def site_stream_name(site: str) -> str:
    """Stream names carry the site so several sites can share one NATS server."""
    return "HALL_" + site.upper().replace("-", "_")


def dead_letter_stream_name(site: str) -> str:
    return "DLQ_" + site.upper().replace("-", "_")
