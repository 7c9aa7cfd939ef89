"""The development-mode test clock of ``shared/clock.py``: honoured only with HALLNET_DEV_MODE=true."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared import clock

START = datetime.fromisoformat("2027-01-01T09:30:00+08:00")


def test_dev_now_starts_the_clock_there_and_it_runs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """With development mode, HALLNET_DEV_NOW sets the clock; it keeps running from that moment."""
    monkeypatch.setenv("HALLNET_DEV_MODE", "true")
    monkeypatch.setenv("HALLNET_DEV_NOW", START.isoformat())
    first = clock.now()
    assert START <= first < START + timedelta(seconds=5)
    assert clock.now() >= first


def test_offset_moves_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """HALLNET_DEV_CLOCK_OFFSET_S=-3600 runs an hour behind real time."""
    monkeypatch.setenv("HALLNET_DEV_MODE", "true")
    monkeypatch.delenv("HALLNET_DEV_NOW", raising=False)
    monkeypatch.setenv("HALLNET_DEV_CLOCK_OFFSET_S", "-3600")
    real = datetime.now().astimezone()
    assert abs((clock.now() - real) + timedelta(hours=1)) < timedelta(seconds=5)


def test_without_development_mode_the_test_clock_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production time is real: HALLNET_DEV_NOW without HALLNET_DEV_MODE changes nothing."""
    monkeypatch.delenv("HALLNET_DEV_MODE", raising=False)
    monkeypatch.setenv("HALLNET_DEV_NOW", START.isoformat())
    assert abs(clock.now() - datetime.now().astimezone()) < timedelta(seconds=5)
