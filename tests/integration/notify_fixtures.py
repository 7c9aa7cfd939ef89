"""A notify service of a test site, run in-process against the real servers, with providers the tests
control. Site events are published to the real site stream as the queue and matters services would."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import nats

from services.notify.app import NotifyApp
from services.notify.main import build_app
from services.notify.providers import LocalProvider, OutgoingSms, Provider, ProviderError
from services.notify.settings import NotifySettings
from shared.auth import ClerkClaims, issue_token
from shared.events import matters as mev
from shared.events import queue as qev
from shared.events.base import Envelope, EventData, make_event
from tests.harness import Servers
from tests.integration.conftest import read_stream

PREFIX = "/notify/api/v1"
DATA_KEY = "Vq2m6c3Jx1Yb9Tz0Lw8Rk5Hn4Pd7Gs2Fa1Ec6Ui3Oy0="  # a test key: 32 bytes, base64
PHONE = "13812341234"
PHONE2 = "18670012345"


class ScriptedProvider:
    """Fails with the given errors first, then sends; remembers every try."""

    name = "scripted"

    def __init__(self, errors: list[ProviderError] | None = None, *, always: ProviderError | None = None) -> None:
        self.errors = list(errors or [])
        self.always = always
        self.tries: list[OutgoingSms] = []
        self.sent: list[OutgoingSms] = []

    async def send(self, sms: OutgoingSms) -> str:
        self.tries.append(sms)
        if self.always is not None:
            raise self.always
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(sms)
        return f"scripted-{len(self.sent)}"

    async def close(self) -> None:
        return None


class HangingProvider:
    """Takes the message and never answers (a process that dies in the middle of a send)."""

    name = "hanging"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.tries: list[OutgoingSms] = []

    async def send(self, sms: OutgoingSms) -> str:
        self.tries.append(sms)
        self.entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def close(self) -> None:
        return None


@dataclass
class NotifyEnv:
    client: httpx.AsyncClient
    app: NotifyApp
    settings: NotifySettings
    provider: Provider
    nc: Any

    async def contact(self, ref_id: uuid.UUID, phone: str = PHONE, ref_type: str = "ticket") -> dict[str, Any]:
        r = await self.client.post(f"{PREFIX}/contacts",
                                   json={"ref_type": ref_type, "ref_id": str(ref_id), "phone": phone})
        assert r.status_code == 201, r.text
        return r.json()

    async def publish(self, data: EventData | Envelope, msg_id: str | None = None) -> Envelope:
        """Publish to the site stream (``msg_id`` other than the event's: a redelivery past the stream's de-dup)."""
        env = data if isinstance(data, Envelope) else make_event(self.settings.site, data)
        await self.nc.jetstream().publish(env.subject, env.to_bytes(),
                                          headers={"Nats-Msg-Id": msg_id or env.msg_id})
        return env

    async def messages(self, ref_id: uuid.UUID) -> list[dict[str, Any]]:
        r = await self.client.get(f"{PREFIX}/messages", params={"ref_id": str(ref_id)})
        assert r.status_code == 200, r.text
        return r.json()

    async def wait_messages(self, ref_id: uuid.UUID, done: Callable[[list[dict[str, Any]]], bool],
                            timeout_s: float = 10.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            msgs = await self.messages(ref_id)
            if done(msgs) or asyncio.get_running_loop().time() > deadline:
                return msgs
            await asyncio.sleep(0.05)

    async def events(self, expect: int | None = None, types: tuple[str, ...] = ("notify.",),
                     timeout_s: float = 10.0) -> list[Envelope]:
        return await read_stream(self.nc, self.settings.site, expect=expect, types=types, timeout_s=timeout_s)


def staff_token(secret: str, site: str, role: str = "clerk") -> str:
    """A clerk (or manager) token of ``site`` as the queue service issues it at sign-in."""
    return issue_token(secret, ClerkClaims(site=site, staff_id="s001", window_no=1, session_id=uuid.uuid4(),
                                           expires_at=int(time.time()) + 3600, role=role))


def staff_headers(settings: NotifySettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {staff_token(settings.token_secret, settings.site)}"}


def notify_settings(site: str, database_url: str, nats_url: str, **kw: Any) -> NotifySettings:
    base: dict[str, Any] = {
        "site": site, "site_name": "测试大厅", "service": "notify", "database_url": database_url,
        "nats_url": nats_url, "token_secret": "test-secret-" + site, "heartbeat_interval_s": 60.0,
        "notify_data_key": DATA_KEY, "notify_send_poll_s": 0.05, "notify_retry_base_s": 0.05,
        "notify_min_interval_s": 0.0, "notify_quiet_start": "00:00", "notify_quiet_end": "00:00",
    }
    base.update(kw)
    return NotifySettings(**base)


@contextlib.asynccontextmanager
async def start_notify(servers: Servers, site: str, database_url: str, *, provider: Provider | None = None,
                       clock: Callable[[], datetime] | None = None,
                       queue_transport: httpx.AsyncBaseTransport | None = None, **kw: Any) -> AsyncIterator[NotifyEnv]:
    """The service in-process (lifespan and all) with an httpx client carrying a clerk token of the site;
    leaves the database as it is."""
    settings = notify_settings(site, database_url, servers.nats_url, **kw)
    chosen = provider or LocalProvider()
    fastapi = build_app(settings, clock=clock, provider=chosen, queue_transport=queue_transport)
    nc = await nats.connect(servers.nats_url)
    try:
        async with fastapi.router.lifespan_context(fastapi):
            transport = httpx.ASGITransport(app=fastapi)
            async with httpx.AsyncClient(transport=transport, base_url="http://notify.test",
                                         headers=staff_headers(settings)) as client:
                yield NotifyEnv(client=client, app=fastapi.state.notify, settings=settings, provider=chosen, nc=nc)
    finally:
        await nc.close()


def called(ticket_id: uuid.UUID, number: str = "A015", window_no: int = 3, call_no: int = 1) -> qev.TicketCalled:
    return qev.TicketCalled(ticket_id=ticket_id, number=number, queue_id=uuid.uuid4(), window_no=window_no,
                            staff_id="s003", call_no=call_no, waited_s=120)


def issued(ticket_id: uuid.UUID, number: str = "A015") -> qev.TicketIssued:
    return qev.TicketIssued(ticket_id=ticket_id, number=number, queue_id=uuid.uuid4(), matter_id="yl-txsq",
                            priority="normal", channel="kiosk", ahead=4, estimated_wait_s=610)


def ready(case_id: uuid.UUID, pickup_by: Any = None) -> mev.CaseReadyForPickup:
    return mev.CaseReadyForPickup(case_id=case_id, matter_id="kk-sl", pickup_by=pickup_by)


def missing(case_id: uuid.UUID) -> mev.CaseMaterialsMissing:
    return mev.CaseMaterialsMissing(case_id=case_id, matter_id="yl-txsq", missing=["m1", "m2"])
