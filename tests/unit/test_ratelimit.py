"""The reusable sliding-window limiter (shared/ratelimit.py): limits, refill, separate keys, bounded memory,
and the 429 answer with Retry-After."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Request

from shared.http import create_app
from shared.ratelimit import RateLimited, SlidingWindowLimiter, client_ip, install_rate_limit_handler


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_allows_up_to_the_limit_then_refuses_with_the_wait() -> None:
    """Three per minute: the fourth attempt is refused and told to wait until the first leaves the window."""
    clock = Clock()
    lim = SlidingWindowLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert lim.hit("1.2.3.4") == 0.0
        clock.t += 10
    assert lim.hit("1.2.3.4") == pytest.approx(30.0)
    assert lim.remaining("1.2.3.4") == 0


def test_window_slides_so_one_old_hit_frees_one_slot() -> None:
    """After the oldest attempt is a minute old exactly one more is allowed, not a whole new batch."""
    clock = Clock()
    lim = SlidingWindowLimiter(2, 60, clock=clock)
    assert lim.hit("k") == 0.0
    clock.t += 30
    assert lim.hit("k") == 0.0
    clock.t += 30.5
    assert lim.hit("k") == 0.0
    assert lim.hit("k") > 0


def test_refused_attempts_do_not_extend_the_block() -> None:
    """Hammering while blocked does not push the unblock time further out."""
    clock = Clock()
    lim = SlidingWindowLimiter(1, 60, clock=clock)
    assert lim.hit("k") == 0.0
    for _ in range(50):
        clock.t += 1
        assert lim.hit("k") > 0
    clock.t += 10
    assert lim.hit("k") == 0.0


def test_keys_are_independent() -> None:
    """One address over its limit leaves another address untouched."""
    lim = SlidingWindowLimiter(1, 60, clock=Clock())
    assert lim.hit("10.0.0.1") == 0.0
    assert lim.hit("10.0.0.1") > 0
    assert lim.hit("10.0.0.2") == 0.0


def test_memory_is_bounded_by_max_keys_and_idle_keys_are_dropped() -> None:
    """Enumerating many keys never holds more than max_keys; idle keys vanish once their window has passed."""
    clock = Clock()
    lim = SlidingWindowLimiter(5, 60, clock=clock, max_keys=100)
    for i in range(1000):
        lim.hit(f"id-{i}")
    assert len(lim) == 100
    clock.t += 61
    lim.hit("fresh")
    assert len(lim) == 1


def test_check_raises_rate_limited_with_whole_seconds() -> None:
    """check() raises a 429 error whose Retry-After is whole seconds, at least 1."""
    clock = Clock()
    lim = SlidingWindowLimiter(1, 60, clock=clock)
    lim.check("k")
    clock.t += 59.7
    with pytest.raises(RateLimited) as caught:
        lim.check("k", "太快了 / too fast")
    assert caught.value.status == 429 and caught.value.retry_after == 1
    assert caught.value.message == "太快了 / too fast" and caught.value.detail["retry_after_s"] == 1


def test_bad_configuration_is_refused() -> None:
    """A zero limit or window is a configuration error, not a limiter that blocks everything."""
    with pytest.raises(ValueError):
        SlidingWindowLimiter(0, 60)
    with pytest.raises(ValueError):
        SlidingWindowLimiter(1, 0)


async def test_http_answer_is_json_429_with_retry_after_and_per_client_address() -> None:
    """Over the limit a client gets JSON 429 {error, message, detail} with Retry-After; another address passes;
    X-Forwarded-For is ignored unless trusted, and then only its last entry (the one our proxy appended) counts."""
    lim = SlidingWindowLimiter(2, 60, clock=Clock())
    app = create_app("demo", "demo", "0")
    install_rate_limit_handler(app)

    @app.get("/demo/ping")
    async def ping(request: Request) -> dict[str, str]:
        lim.check(client_ip(request))
        return {"ok": client_ip(request, trust_forwarded_for=True)}

    def client(ip: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1)), base_url="http://t")

    async with client("10.0.0.1") as a, client("10.0.0.2") as b:
        assert [(await a.get("/demo/ping", headers={"X-Forwarded-For": f"9.9.9.{i}"})).status_code
                for i in range(2)] == [200, 200]
        r = await a.get("/demo/ping", headers={"X-Forwarded-For": "9.9.9.9"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        body = r.json()
        assert body["error"] == "too_many_requests" and "请求过于频繁" in body["message"]
        assert body["detail"]["retry_after_s"] == 60
        ok = await b.get("/demo/ping", headers={"X-Forwarded-For": "1.1.1.1, 8.8.8.8"})
        assert ok.status_code == 200 and ok.json() == {"ok": "8.8.8.8"}
