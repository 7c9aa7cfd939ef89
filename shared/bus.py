"""NATS/JetStream wrapper: reconnect forever, publish with ``Nats-Msg-Id`` and ``traceparent``,
site streams, durable pull consumers."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import nats
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from opentelemetry.trace import SpanKind

from shared.events.base import Envelope
from shared.logging import get_logger
from shared.settings import dead_letter_stream_name, site_stream_name
from shared.tracing import inject_headers, tracer

log = get_logger("bus")
_tracer = tracer("hallnet.bus")

DAY_S = 86_400


def redact_url(url: str) -> str:
    """``nats://user:secret@host`` → ``nats://user:***@host`` (for logs), for each of several comma-separated URLs."""
    return ",".join(re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", u) for u in url.split(","))


class Bus:
    """One NATS connection and its JetStream context for one service process."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        js_domain: str | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.js_domain = js_domain
        self._user = user
        self._password = password
        self.nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self.connected = asyncio.Event()

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("bus not connected")
        return self._js

    async def connect(self, *, timeout_s: float = 2.0) -> None:
        async def on_error(e: Exception) -> None:
            log.warning("nats_error", error=repr(e))

        async def on_disconnected() -> None:
            self.connected.clear()
            log.warning("nats_disconnected", url=redact_url(self.url))

        async def on_reconnected() -> None:
            self.connected.set()
            log.info("nats_reconnected", url=redact_url(self.url))

        self.nc = await nats.connect(
            servers=[u.strip() for u in self.url.split(",")],
            name=self.name,
            user=self._user,
            password=self._password,
            max_reconnect_attempts=-1,  # reconnect forever
            reconnect_time_wait=0.5,
            connect_timeout=timeout_s,
            allow_reconnect=True,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            pending_size=64 * 1024 * 1024,
            drain_timeout=3,
        )
        self._js = self.nc.jetstream(domain=self.js_domain, timeout=5.0)
        self.connected.set()

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        self.nc = None
        self._js = None

    # --- streams -----------------------------------------------------------------------------
    async def ensure_site_streams(self, site: str, *, max_age_days: int = 30, replicas: int = 1) -> None:
        """The site's event stream (``hall.<site>.>``) and its dead-letter stream, file-backed."""
        await self.ensure_stream(
            StreamConfig(
                name=site_stream_name(site),
                subjects=[f"hall.{site}.>"],
                storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                max_age=max_age_days * DAY_S,
                duplicate_window=2 * 3600,
                num_replicas=replicas,
            )
        )
        await self.ensure_stream(
            StreamConfig(
                name=dead_letter_stream_name(site),
                subjects=[f"deadletter.{site}.>"],
                storage=StorageType.FILE,
                max_age=90 * DAY_S,
                num_replicas=replicas,
            )
        )

    async def ensure_stream(self, config: StreamConfig) -> None:
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != 10058:  # stream name already in use with a different configuration
                raise
            await self.js.update_stream(config)

    # --- publishing --------------------------------------------------------------------------
    async def publish(self, env: Envelope) -> Any:
        """Publish one event straight to JetStream (use the outbox for state changes)."""
        headers = {"Nats-Msg-Id": env.msg_id, "Content-Type": "application/json"}
        with _tracer.start_as_current_span(f"publish {env.type}", kind=SpanKind.PRODUCER):
            inject_headers(headers)
            return await self.js.publish(env.subject, env.to_bytes(), headers=headers)

    async def publish_async_raw(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[Any]:
        with _tracer.start_as_current_span(f"publish {subject}", kind=SpanKind.PRODUCER):
            if "traceparent" not in headers:  # written outside any request (snapshots, sweeps): start a trace here
                inject_headers(headers)
            return await self.js.publish_async(subject, payload, headers=headers, wait_stall=5.0)

    # --- consuming ---------------------------------------------------------------------------
    async def pull_subscription(
        self,
        *,
        stream: str,
        durable: str,
        filter_subjects: list[str],
        ack_wait_s: float = 30.0,
        deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    ) -> JetStreamContext.PullSubscription:
        """A durable pull consumer (explicit ack). Redelivery limits are enforced by EventConsumer,
        which dead-letters, so the server never drops a message silently."""
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=deliver_policy,
            ack_wait=ack_wait_s,
            max_deliver=-1,
            max_ack_pending=10_000,
        )
        if len(filter_subjects) == 1:
            config.filter_subject = filter_subjects[0]
        else:
            config.filter_subjects = filter_subjects
        await self.js.add_consumer(stream, config)  # creates, or updates an existing durable
        return await self.js.pull_subscribe_bind(durable=durable, stream=stream)

