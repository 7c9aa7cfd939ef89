"""Settings of the site gateway: the shared ones plus the upstream services (``HALLNET_UPSTREAMS``)."""

from __future__ import annotations

from pydantic import field_validator

from shared.settings import Settings

# the services the gateway routes by path prefix (CONTRACT.md: one gateway per site routes by path); a gateway in
# front of central (upstream "central") serves the supervision wall from central's own origin
ROUTED = ("queue", "matters", "ratings", "notify", "central")


class GatewaySettings(Settings):
    service: str = "gateway"
    http_port: int = 8105
    # JSON, e.g. {"queue": "http://127.0.0.1:8101", "matters": "http://127.0.0.1:8102", …}
    upstreams: dict[str, str] = {}
    # the base URL phones reach this gateway at (QR codes on tickets); default: the URL the request came in on
    gateway_public_url: str | None = None
    upstream_timeout_s: float = 30.0

    @field_validator("upstreams")
    @classmethod
    def _routed(cls, v: dict[str, str]) -> dict[str, str]:
        """Only the services the gateway routes; other names (e.g. the gateway itself) are ignored."""
        return {k: u.rstrip("/") for k, u in v.items() if k in ROUTED}
