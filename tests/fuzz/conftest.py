"""One real stack (``hallnet up``: zhuzhou + baogai, central) for the fuzz and bad-input tests of this package, with
a duty manager's, a window clerk's and a supervisor's tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.test_stack_e2e import _hallnet_up, one_stack_at_a_time

SITE_SERVICES = ("queue", "matters", "ratings", "notify")


@dataclass(frozen=True)
class Target:
    service: str
    base: str  # the service's base URL (+ /<service>/openapi.json)
    token: str  # a duty manager's (sites) or a supervisor's (central) token


@dataclass(frozen=True)
class Stack:
    doc: dict[str, Any]  # stack.json
    targets: list[Target]
    clerk_token: str  # window 1's A-role clerk at the first site

    def base(self, service: str) -> str:
        return next(t.base for t in self.targets if t.service == service)

    def token(self, service: str) -> str:
        return next(t.token for t in self.targets if t.service == service)


def _sign_in(url: str, body: dict[str, str]) -> str:
    r = httpx.post(url, json=body, timeout=10)
    assert r.status_code == 200, f"sign-in at {url}: {r.status_code} {r.text}"
    return str(r.json()["token"])


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    """``hallnet up`` with the tokens the tests send."""
    with one_stack_at_a_time():
        hallnet = _hallnet_up()
        h = next(hallnet)
        try:
            doc = asyncio.run(h.wait_for_stack(180))
            site = doc["sites"][0]
            queue = site["services"]["queue"]
            manager = site["managers"][0]
            manager_token = _sign_in(f"{queue}/queue/api/v1/manager/sign-in",
                                     {"staff_id": manager["staff_id"], "password": manager["password"]})
            clerk = next(s for s in site["staff"] if s["window_no"] == 1)
            clerk_token = _sign_in(f"{queue}/queue/api/v1/windows/1/sign-in",
                                   {"staff_id": clerk["staff_id"], "password": clerk["password"]})
            central = doc["central"]["services"]["central"]
            sup = (doc.get("supervisors") or doc["central"]["supervisors"])[0]
            sup_token = _sign_in(f"{central}/central/api/v1/sign-in",
                                 {"username": sup["user"], "password": sup["password"]})
            targets = ([Target(s, site["services"][s], manager_token) for s in SITE_SERVICES]
                       + [Target("central", central, sup_token)])
            yield Stack(doc, targets, clerk_token)
        finally:
            hallnet.close()


@pytest.fixture(scope="package")
def targets(stack: Stack) -> list[Target]:
    return stack.targets
