"""What every browser test needs: Debian's chromium (a clear failure when it is missing, never a skip), a headless
browser per test, and one ``hallnet up`` per test module."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_stack_e2e import Hallnet, _hallnet_up, one_stack_at_a_time

CHROMIUM = Path(os.environ.get("HALLNET_CHROMIUM", "/usr/bin/chromium"))


def chromium_or_fail() -> str:
    """The browser binary; a clear failure (never a skip) when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(`apt-get install chromium`, or set HALLNET_CHROMIUM to a Chromium binary)")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def stack() -> Iterator[Hallnet]:
    """``hallnet up`` (zhuzhou + baogai, no simulated traffic) in a fresh state directory, one stack at a time."""
    chromium_or_fail()  # before starting anything
    with one_stack_at_a_time():
        yield from _hallnet_up()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_or_fail(), headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage", "--lang=zh-CN"])
        try:
            yield b
        finally:
            await b.close()
