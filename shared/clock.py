"""Time helpers: aware datetimes everywhere, Asia/Shanghai by default.

A test clock in development mode only (``HALLNET_DEV_MODE=true``, which ``hallnet up`` sets): with
``HALLNET_DEV_NOW=2027-01-01T09:30:00+08:00`` the clock starts at that moment when the process first asks and
runs on from there; with ``HALLNET_DEV_CLOCK_OFFSET_S=-600`` it runs that many seconds ahead (behind). Without
development mode both are ignored (and said once in the log by ``dev_clock_ignored``): production time is real.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_log = logging.getLogger("hallnet.clock")
_shift: tuple[tuple[str, str, str], timedelta] | None = None  # (the variables it was read from, the shift)


def _dev_shift(real: datetime) -> timedelta:
    """How far the test clock is from the real one (zero outside development mode)."""
    global _shift
    raw = (os.environ.get("HALLNET_DEV_MODE", ""), os.environ.get("HALLNET_DEV_NOW", ""),
           os.environ.get("HALLNET_DEV_CLOCK_OFFSET_S", ""))
    if _shift is not None and _shift[0] == raw:
        return _shift[1]
    mode, fixed, offset = raw
    shift = timedelta(0)
    if mode.strip().lower() in ("1", "true", "yes", "on"):
        if fixed:
            start = datetime.fromisoformat(fixed)
            if start.tzinfo is None:
                raise ValueError("HALLNET_DEV_NOW needs an offset, e.g. 2027-01-01T09:30:00+08:00")
            shift = start - real
        elif offset:
            shift = timedelta(seconds=float(offset))
    elif fixed or offset:
        _log.warning("dev_clock_ignored: HALLNET_DEV_NOW/HALLNET_DEV_CLOCK_OFFSET_S need HALLNET_DEV_MODE=true")
    _shift = (raw, shift)
    return shift


def now(tz: ZoneInfo = SHANGHAI) -> datetime:
    real = datetime.now(UTC)
    return (real + _dev_shift(real)).astimezone(tz)


def iso(dt: datetime) -> str:
    """ISO 8601 with offset and milliseconds, as on the wire."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return dt.isoformat(timespec="milliseconds")
