"""Time helpers: aware datetimes everywhere, Asia/Shanghai by default."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now(tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.now(UTC).astimezone(tz)


def iso(dt: datetime) -> str:
    """ISO 8601 with offset and milliseconds, as on the wire."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return dt.isoformat(timespec="milliseconds")
