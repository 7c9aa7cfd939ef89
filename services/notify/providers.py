"""SMS providers. Each gets the message id as an idempotency key: a message re-tried after a crash in the
middle of a send carries the same id, so a provider that de-duplicates by it sends it once.

``local`` keeps messages in the service (the demo's messages API shows them as sent); ``webhook`` POSTs JSON
to a gateway of the site's choosing; ``aliyun`` and ``tencent`` call SendSms through the official SDKs
(``alibabacloud-dysmsapi20170525``, ``tencentcloud-sdk-python-sms``), whose blocking clients run in a thread.
Their error codes are sorted into transient (retried with backoff) and final. Exception texts of the SDKs may
contain the request URL (with the phone number): only error codes are kept, never the text."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from services.notify import domain as d


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
    variables: dict[str, object] = field(default_factory=dict)  # the template's variables (SDK providers)


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


# --- Aliyun (阿里云短信) ------------------------------------------------------------------------------
# Codes that clear by themselves: flow control (per-minute/hour limits), throttling, the provider's own errors.
ALIYUN_TRANSIENT = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "Throttling", "Throttling.User",
    "Throttling.Api", "ServiceUnavailable", "InternalError", "isv.OUT_OF_SERVICE_TEMPORARILY",
    "SignatureNonceUsed",
})
# Limits counted per day: retrying within the backoff window cannot succeed.
ALIYUN_FINAL_LIMITS = frozenset({"isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL"})


def aliyun_transient(code: str, http_status: int | None = None) -> bool:
    if code in ALIYUN_FINAL_LIMITS:
        return False
    return code in ALIYUN_TRANSIENT or (http_status is not None and (http_status in (408, 429) or http_status >= 500))


class AliyunProvider:
    """SendSms (dysmsapi 2017-05-25) with SignName, TemplateCode, TemplateParam (JSON), PhoneNumbers and OutId
    (our message id). ``Code: OK`` is sent (the BizId is the provider's message id for receipts)."""

    name = "aliyun"

    def __init__(self, access_key_id: str, access_key_secret: str, templates: dict[str, str], *,
                 endpoint: str = "dysmsapi.aliyuncs.com", protocol: str = "https", timeout_s: float = 10.0) -> None:
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as open_api

        self.templates = dict(templates)
        self.client = Client(open_api.Config(
            access_key_id=access_key_id, access_key_secret=access_key_secret, endpoint=endpoint, protocol=protocol,
            read_timeout=int(timeout_s * 1000), connect_timeout=int(min(timeout_s, 5.0) * 1000)))

    def _send(self, sms: OutgoingSms, template_code: str) -> str:
        from alibabacloud_dysmsapi20170525 import models as sms_models
        from Tea.exceptions import TeaException, UnretryableException

        named, _ = d.template_params(sms.template, sms.variables)
        request = sms_models.SendSmsRequest(
            phone_numbers=sms.phone, sign_name=sms.signature, template_code=template_code,
            template_param=json.dumps(named, ensure_ascii=False) if named else None, out_id=str(sms.message_id))
        try:
            response = self.client.send_sms(request)
        except UnretryableException:  # network: refused, reset, timed out
            raise ProviderError("unreachable", transient=True) from None
        except TeaException as exc:  # an error answer (4xx/5xx) with the API's code
            status = _int_or_none(getattr(exc, "status_code", None) or getattr(exc, "statusCode", None))
            code = str(exc.code or f"http_{status}")
            raise ProviderError(code, transient=aliyun_transient(code, status)) from None
        body = response.body
        code = str(getattr(body, "code", "") or "")
        if code == "OK":
            return str(body.biz_id or sms.message_id)
        raise ProviderError(code or "no_code", transient=aliyun_transient(code))

    async def send(self, sms: OutgoingSms) -> str:
        code = self.templates.get(sms.template)
        if not code:
            raise ProviderError("template_not_registered", transient=False)
        return await asyncio.to_thread(self._send, sms, code)

    async def close(self) -> None:
        return None


# --- Tencent Cloud (腾讯云短信) -------------------------------------------------------------------------
TENCENT_TRANSIENT_PREFIXES = ("InternalError", "RequestLimitExceeded", "ClientNetworkError", "ServerNetworkError")
TENCENT_TRANSIENT = frozenset({
    "LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberOneHourLimit",
    "FailedOperation.FailResolvePacket", "FailedOperation.JsonParseFail",
})


def tencent_transient(code: str) -> bool:
    return code in TENCENT_TRANSIENT or code.startswith(TENCENT_TRANSIENT_PREFIXES)


class TencentProvider:
    """SendSms (sms 2021-01-11) with SmsSdkAppId, SignName, TemplateId, TemplateParamSet, PhoneNumberSet
    (+86…) and SessionContext (our message id). A ``SendStatusSet`` entry with ``Code: Ok`` is sent (its
    SerialNo is the provider's message id for receipts)."""

    name = "tencent"

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str, templates: dict[str, str], *,
                 region: str = "ap-guangzhou", endpoint: str = "sms.tencentcloudapi.com", protocol: str = "https",
                 timeout_s: float = 10.0) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        self.templates = dict(templates)
        self.sdk_app_id = sdk_app_id
        profile = ClientProfile(httpProfile=HttpProfile(protocol=protocol, endpoint=endpoint,
                                                        reqTimeout=max(1, int(timeout_s))))
        self.client = sms_client.SmsClient(credential.Credential(secret_id, secret_key), region, profile)

    def _send(self, sms: OutgoingSms, template_id: str) -> str:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models as sms_models

        _, ordered = d.template_params(sms.template, sms.variables)
        request = sms_models.SendSmsRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = sms.signature
        request.TemplateId = template_id
        request.TemplateParamSet = ordered
        request.PhoneNumberSet = [f"+86{sms.phone}"]
        request.SessionContext = str(sms.message_id)
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            code = str(exc.code or "sdk_error")
            raise ProviderError(code, transient=tencent_transient(code)) from None
        statuses = response.SendStatusSet or []
        if not statuses:
            raise ProviderError("no_status", transient=True)
        status = statuses[0]
        code = str(status.Code or "")
        if code == "Ok":
            return str(status.SerialNo or sms.message_id)
        raise ProviderError(code or "no_code", transient=tencent_transient(code))

    async def send(self, sms: OutgoingSms) -> str:
        template_id = self.templates.get(sms.template)
        if not template_id:
            raise ProviderError("template_not_registered", transient=False)
        return await asyncio.to_thread(self._send, sms, template_id)

    async def close(self) -> None:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
