"""A small in-memory sliding-window rate limiter (限流), per process, for any service.

``SlidingWindowLimiter(limit, window_s)`` allows at most ``limit`` hits per key within any ``window_s`` seconds
(an exact sliding log: one timestamp per allowed hit). A refused hit is not recorded, so a client that keeps
hammering is let in again as soon as its oldest hit leaves the window. Memory is bounded: keys whose hits have all
left the window are dropped, and at ``max_keys`` the least recently used key is evicted.

In a FastAPI service: ``limiter.check(key)`` raises :class:`RateLimited` (429), and
:func:`install_rate_limit_handler` answers it as ``{error, message, detail}`` with a ``Retry-After`` header.
The limits are per process (a site runs one process per service); they are abuse protection, not quotas.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shared.errors import TooManyRequests


class RateLimited(TooManyRequests):
    """429: too many attempts; ``retry_after`` (whole seconds, ≥ 1) goes to the ``Retry-After`` header."""

    def __init__(self, message: str, retry_after: float, **detail: Any) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, retry_after_s=self.retry_after, **detail)


class SlidingWindowLimiter:
    def __init__(self, limit: int, window_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be ≥ 1 and window_s > 0")
        self.limit = limit
        self.window_s = float(window_s)
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, key: str) -> float:
        """Record one attempt for ``key``: 0.0 when allowed, else the seconds until one more would be."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            self._evict(now)
            hits = self._hits[key] = deque()
        else:
            self._hits.move_to_end(key)
        cutoff = now - self.window_s
        while hits and hits[0] <= cutoff:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(hits[0] + self.window_s - now, 1e-6)
        hits.append(now)
        return 0.0

    def remaining(self, key: str) -> int:
        """How many attempts ``key`` has left in the current window (records nothing)."""
        hits = self._hits.get(key)
        if not hits:
            return self.limit
        cutoff = self._clock() - self.window_s
        return self.limit - sum(1 for t in hits if t > cutoff)

    def check(self, key: str, message: str = "请求过于频繁，请稍后再试 / too many requests, try again later",
              **detail: Any) -> None:
        """Record one attempt; raise :class:`RateLimited` when over the limit."""
        wait = self.hit(key)
        if wait > 0:
            raise RateLimited(message, wait, **detail)

    def _evict(self, now: float) -> None:
        """Before adding a key: drop keys with no hit in the window (oldest first), then the LRU if still full."""
        cutoff = now - self.window_s
        while self._hits:
            oldest_key, oldest = next(iter(self._hits.items()))
            if oldest and oldest[-1] > cutoff:
                break
            del self._hits[oldest_key]
        while len(self._hits) >= self.max_keys:
            self._hits.popitem(last=False)


def client_ip(request: Request, *, trust_forwarded_for: bool = False) -> str:
    """The caller's address. Behind the site's own reverse proxy (``services/gateway``, which appends the peer it
    saw to ``X-Forwarded-For``) pass ``trust_forwarded_for``: the *last* entry is taken, the one our proxy wrote;
    earlier entries come from the client and could be anything. Otherwise the TCP peer."""
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def install_rate_limit_handler(app: FastAPI) -> None:
    """Answer :class:`RateLimited` as the usual JSON error plus ``Retry-After``."""

    @app.exception_handler(RateLimited)
    async def _limited(_: Request, exc: RateLimited) -> JSONResponse:
        body: dict[str, Any] = {"error": exc.code, "message": exc.message, "detail": exc.detail}
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after)})
