"""Bootstrap of the notify service: the only place that opens connections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from services.notify import contacts, events, reminders, sender
from services.notify.api import router
from services.notify.app import NotifyApp
from services.notify.crypto import DataBox, derive_development_key, parse_key
from services.notify.domain import TEMPLATES
from services.notify.providers import AliyunProvider, LocalProvider, Provider, TencentProvider, WebhookProvider
from services.notify.queue_client import QueueClient
from services.notify.settings import NotifySettings
from shared.calendar_sync import watch_calendar
from shared.consumer import EventConsumer
from shared.logging import get_logger
from shared.runtime import Runtime, prepare, serve, service_app

log = get_logger("notify")
CONSUMER = "notify"


def make_box(settings: NotifySettings) -> DataBox:
    old = [parse_key(k) for k in settings.notify_old_data_keys]
    if settings.notify_data_key:
        return DataBox(parse_key(settings.notify_data_key), old)
    log.warning("data_key_not_set", detail="phone numbers are sealed with a key derived from the site's token "
                                           "secret: set HALLNET_NOTIFY_DATA_KEY outside development")
    return DataBox(derive_development_key(settings.token_secret), old)


def make_provider(settings: NotifySettings) -> Provider:
    if settings.notify_provider == "webhook" and settings.notify_webhook_url:
        return WebhookProvider(settings.notify_webhook_url, settings.notify_webhook_token,
                               settings.notify_webhook_timeout_s)
    if settings.notify_provider in ("aliyun", "tencent"):
        templates = (settings.notify_aliyun_templates if settings.notify_provider == "aliyun"
                     else settings.notify_tencent_templates)
        missing = sorted(set(TEMPLATES) - set(templates))
        if missing:  # those messages fail as template_not_registered
            log.warning("provider_templates_missing", provider=settings.notify_provider, templates=missing)
    if settings.notify_provider == "aliyun":
        return AliyunProvider(settings.notify_aliyun_access_key_id or "",
                              settings.notify_aliyun_access_key_secret or "", settings.notify_aliyun_templates,
                              endpoint=settings.notify_aliyun_endpoint,
                              protocol=settings.notify_aliyun_protocol, timeout_s=settings.notify_provider_timeout_s)
    if settings.notify_provider == "tencent":
        return TencentProvider(settings.notify_tencent_secret_id or "", settings.notify_tencent_secret_key or "",
                               settings.notify_tencent_sdk_app_id or "", settings.notify_tencent_templates,
                               region=settings.notify_tencent_region, endpoint=settings.notify_tencent_endpoint,
                               protocol=settings.notify_tencent_protocol, timeout_s=settings.notify_provider_timeout_s)
    return LocalProvider()


def queue_url(settings: NotifySettings) -> str:
    """``HALLNET_QUEUE_URL``, else the queue service of ``hallnet up`` (port base + 0, this service is base + 3)."""
    return settings.queue_url or f"http://127.0.0.1:{settings.http_port - 3}"


def build_app(settings: NotifySettings, *, clock: Callable[[], datetime] | None = None,
              provider: Provider | None = None, queue_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The service as an ASGI app; settings (signature, key, quiet hours) are checked before anything connects."""
    box = make_box(settings)
    settings.signature  # noqa: B018  (raises on a signature that is not 2–12 characters)
    chosen = provider or make_provider(settings)

    async def build(runtime: Runtime) -> dict[str, Any]:
        runtime.at_stop(chosen.close)
        queue = QueueClient(queue_url(settings), transport=queue_transport)
        runtime.at_stop(queue.close)
        notify = NotifyApp(runtime.db, settings, box, chosen, clock=clock, queue=queue)
        consumer = EventConsumer(bus=runtime.bus, pool=runtime.db, site=settings.site, stream=settings.stream_name,
                                 durable=CONSUMER, handlers=events.handlers(notify), max_deliver=settings.max_deliver)
        runtime.spawn("notify_consumer", consumer.run)
        assert runtime.bus.nc is not None  # the runtime connected before build
        handover = await contacts.serve_contacts(notify, runtime.bus.nc)  # svc.<site>.notify.contacts
        runtime.at_stop(handover.unsubscribe)
        runtime.spawn("site_calendar", lambda: watch_calendar(runtime.bus.js, settings.site, notify.use_calendar))
        runtime.spawn("sms_sender", lambda: sender.send_loop(notify))
        runtime.spawn("retention_sweep", notify.sweep_loop)
        runtime.spawn("turn_approaching", lambda: reminders.approach_loop(notify))
        runtime.spawn("pickup_reminders", lambda: reminders.reminder_loop(notify))
        return {"notify": notify, "consumer": consumer}

    return service_app(settings, title="hallnet notify service (短信)", migrations=["services.notify.migrations"],
                       build=build, routers=[router])


def main() -> None:
    settings = NotifySettings(service="notify")
    prepare(settings)
    serve(build_app(settings), settings)


if __name__ == "__main__":
    main()
