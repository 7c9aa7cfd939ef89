"""A ratings service of a test site, run in-process against the real servers, with a clock the test moves;
and helpers that publish real queue/matters events to the site's stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import nats

from services.ratings.app import RatingsApp
from services.ratings.main import build_app
from services.ratings.settings import RatingsSettings
from shared.auth import ClerkClaims, issue_token
from shared.events.base import Envelope, EventData, make_event
from shared.events.queue import TicketCompleted
from tests.harness import Servers
from tests.integration.conftest import read_stream
from tests.integration.matters_fixtures import TZ, FakeClock

PREFIX = "/ratings/api/v1"


@dataclass
class RatingsEnv:
    client: httpx.AsyncClient
    fastapi: Any
    app: RatingsApp
    settings: RatingsSettings
    clock: FakeClock
    nc: Any
    database_url: str

    @property
    def site(self) -> str:
        return self.settings.site

    def clerk(self, staff_id: str = "s001", window_no: int = 1, role: str = "A") -> dict[str, str]:
        """A clerk token as the queue service issues it at sign-in."""
        token = issue_token(self.settings.token_secret, ClerkClaims(
            site=self.site, staff_id=staff_id, window_no=window_no, session_id=uuid.uuid4(),
            expires_at=int(time.time()) + 3600, role=role))
        return {"Authorization": f"Bearer {token}"}

    async def publish(self, data: EventData, at: datetime | None = None) -> Envelope:
        env = make_event(self.site, data, occurred_at=at)
        await self.nc.jetstream().publish(env.subject, env.to_bytes(), headers={"Nats-Msg-Id": env.msg_id})
        return env

    async def complete_ticket(self, window_no: int = 1, staff_id: str = "s001",
                              matter_id: str | None = "yl-txsq", at: datetime | None = None) -> uuid.UUID:
        """Publish a real ``queue.ticket.completed`` for a new ticket (at ``at``, default now); return its id."""
        ticket_id = uuid.uuid4()
        await self.publish(TicketCompleted(ticket_id=ticket_id, number="A001", queue_id=uuid.uuid4(),
                                           matter_id=matter_id, window_no=window_no, staff_id=staff_id,
                                           waited_s=120, served_s=300), at)
        return ticket_id

    async def invitation(self, window_no: int, subject_id: uuid.UUID | None = None,
                         timeout_s: float = 10.0) -> dict[str, Any]:
        """Wait until the window's rating device shows an invitation (for ``subject_id`` when given)."""
        async with asyncio.timeout(timeout_s):
            while True:
                r = await self.client.get(f"{PREFIX}/windows/{window_no}/invitation")
                assert r.status_code in (200, 204), r.text
                if r.status_code == 200 and (subject_id is None or r.json()["subject_id"] == str(subject_id)):
                    return r.json()
                await asyncio.sleep(0.05)

    @property
    def manager(self) -> dict[str, str]:
        return self.clerk("m001", 1, "manager")

    @property
    def manager2(self) -> dict[str, str]:
        """A second duty manager (复核 of an appeal)."""
        return self.clerk("m002", 0, "manager")

    async def bad_rating(self, window_no: int = 2, level: int = 1, text: str | None = "态度很差",
                         reasons: list[str] | None = None) -> tuple[dict[str, Any], str]:
        """A citizen's bad rating of a new ticket at ``window_no`` (clerk ``s00<n>``): (rating, complaint id)."""
        ticket = await self.complete_ticket(window_no=window_no, staff_id=f"s00{window_no}")
        inv = await self.invitation(window_no, ticket)
        r = await self.rate(inv["id"], {"level": level, "reasons": reasons or ["bad_attitude"], "text": text,
                                        "indicators": {"attitude": 1, "efficiency": 2}})
        assert r.status_code == 201, r.text
        listed = (await self.client.get(f"{PREFIX}/complaints", headers=self.manager)).json()
        mine = [c for c in listed if c["rating_id"] == r.json()["id"]]
        assert len(mine) == 1
        return r.json(), mine[0]["id"]

    async def step(self, complaint_id: str, action: str, headers: dict[str, str],
                   body: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
        """One follow-up step that must answer ``expect``; its JSON."""
        r = await self.complaint(complaint_id, action, headers, body)
        assert r.status_code == expect, r.text
        return dict(r.json())

    async def detail(self, complaint_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        r = await self.client.get(f"{PREFIX}/complaints/{complaint_id}", headers=headers or self.manager)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def complaint(self, complaint_id: str, action: str, headers: dict[str, str],
                        body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(f"{PREFIX}/complaints/{complaint_id}/{action}", json=body, headers=headers)

    async def rate(self, invitation_id: str, body: dict[str, Any], headers: dict[str, str] | None = None
                   ) -> httpx.Response:
        return await self.client.post(f"{PREFIX}/invitations/{invitation_id}/rating", json=body, headers=headers)

    @contextlib.asynccontextmanager
    async def client_from(self, ip: str) -> AsyncIterator[httpx.AsyncClient]:
        """Another HTTP client of the same service, calling from address ``ip``."""
        transport = httpx.ASGITransport(app=self.fastapi, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://ratings.test") as client:
            yield client

    async def verify(self) -> dict[str, Any]:
        r = await self.client.get(f"{PREFIX}/chain/verify")
        assert r.status_code == 200, r.text
        return r.json()

    async def events(self, expect: int | None = None,
                     types: tuple[str, ...] = ("ratings.rating.", "ratings.complaint."),
                     timeout_s: float = 10.0) -> list[Envelope]:
        return await read_stream(self.nc, self.site, expect=expect, types=types, timeout_s=timeout_s)

    async def sql(self, *statements: str) -> None:
        """Run statements as the database superuser, on a connection of its own (an attacker's session)."""
        conn = await asyncpg.connect(self.database_url)
        try:
            for s in statements:
                await conn.execute(s)
        finally:
            await conn.close()


def ratings_settings(site: str, database_url: str, nats_url: str, **kw: Any) -> RatingsSettings:
    return RatingsSettings(site=site, site_name="测试大厅", service="ratings", database_url=database_url,
                           nats_url=nats_url, token_secret="test-secret-" + site, heartbeat_interval_s=60.0,
                           ratings_expiry_check_interval_s=kw.pop("check_interval_s", 3600.0), **kw)


@contextlib.asynccontextmanager
async def start_ratings(servers: Servers, site: str, database_url: str, *, clock: FakeClock | None = None,
                        **kw: Any) -> AsyncIterator[RatingsEnv]:
    """The service in-process (lifespan and all) with an httpx client; leaves the database as it is."""
    clock = clock or FakeClock(datetime.now(TZ))
    settings = ratings_settings(site, database_url, servers.nats_url, **kw)
    fastapi = build_app(settings, clock=clock)
    nc = await nats.connect(servers.nats_url)
    try:
        async with fastapi.router.lifespan_context(fastapi):
            transport = httpx.ASGITransport(app=fastapi)
            async with httpx.AsyncClient(transport=transport, base_url="http://ratings.test") as client:
                yield RatingsEnv(client=client, fastapi=fastapi, app=fastapi.state.ratings, settings=settings,
                                 clock=clock, nc=nc, database_url=database_url)
    finally:
        await nc.close()


