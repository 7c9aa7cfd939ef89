"""SMS providers. Each gets the message id as an idempotency key: a message re-tried after a crash in the
middle of a send carries the same id, so a provider that de-duplicates by it sends it once.

``local`` keeps messages in the service (the demo's messages API shows them as sent); ``webhook`` POSTs JSON
to a gateway of the site's choosing. Aliyun/Tencent SDK providers are not built (their packages are not
dependencies)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Protocol

import httpx


class ProviderError(Exception):
    """A send that did not go through; ``transient`` ones are retried with backoff."""

    def __init__(self, code: str, transient: bool, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.transient = transient


@dataclass(frozen=True)
class OutgoingSms:
    message_id: uuid.UUID
    phone: str
    text: str  # with the signature
    template: str
    signature: str
    parts: int


class Provider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> str:
        """Send; return the provider's message id, or raise ProviderError."""
        ...

    async def close(self) -> None: ...


@dataclass
class LocalProvider:
    """Keeps what it 'sends' (by message id, so a repeat is not sent twice): development and the demo."""

    name: str = "local"
    sent: dict[uuid.UUID, OutgoingSms] = field(default_factory=dict)

    async def send(self, sms: OutgoingSms) -> str:
        self.sent.setdefault(sms.message_id, sms)
        return f"local-{sms.message_id}"

    async def close(self) -> None:
        return None


class WebhookProvider:
    """POST ``{id, phone, signature, text, template, parts}`` to a URL; 2xx is sent, 408/429/5xx and network
    errors are transient, other answers are final. The gateway should de-duplicate by ``id``."""

    name = "webhook"

    def __init__(self, url: str, token: str | None = None, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self.client = httpx.AsyncClient(timeout=timeout_s, headers=headers, transport=transport)

    async def send(self, sms: OutgoingSms) -> str:
        body = {"id": str(sms.message_id), "phone": sms.phone, "signature": sms.signature, "text": sms.text,
                "template": sms.template, "parts": sms.parts}
        try:
            r = await self.client.post(self.url, json=body, headers={"Idempotency-Key": str(sms.message_id)})
        except httpx.TimeoutException as exc:
            raise ProviderError("timeout", transient=True, detail=type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise ProviderError("unreachable", transient=True, detail=type(exc).__name__) from None
        if r.is_success:
            try:
                answer = r.json()
            except ValueError:
                answer = {}
            msg_id = answer.get("message_id") if isinstance(answer, dict) else None
            return str(msg_id or sms.message_id)
        transient = r.status_code in (408, 429) or r.status_code >= 500
        raise ProviderError(f"http_{r.status_code}", transient=transient)

    async def close(self) -> None:
        await self.client.aclose()
