"""The Aliyun and Tencent Cloud providers: the REAL official SDK clients, pointed at a local stand-in of each API
(a real HTTP server on a socket that records what the SDK sends and answers like the real API), with the
service against real NATS and PostgreSQL; then the providers' delivery receipts."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.notify.main import make_provider
from tests.harness import Servers
from tests.integration.notify_fixtures import PHONE, called, notify_settings, start_notify

ALIYUN_TEMPLATES = {"ticket_called": "SMS_480001", "ticket_issued": "SMS_480002"}
TENCENT_TEMPLATES = {"ticket_called": "2001001", "ticket_issued": "2001002"}
RECEIPT_TOKEN = "receipt-secret-1"


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class StandIn:
    """Answers Aliyun RPC calls (``x-acs-action``) and Tencent TC3 calls (``X-TC-Action``) from a script."""

    aliyun: list[dict[str, Any]] = field(default_factory=list)  # answer bodies; default Code OK
    tencent: list[dict[str, Any]] = field(default_factory=list)  # "Response" bodies; default Ok
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def answer(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        n = len(self.requests)
        if "x-tc-action" in rec.headers:
            resp = self.tencent.pop(0) if self.tencent else {
                "SendStatusSet": [{"SerialNo": f"2433:{n}", "PhoneNumber": "+86" + PHONE, "Fee": 1,
                                   "SessionContext": "", "Code": "Ok", "Message": "send success", "IsoCode": "CN"}]}
            return 200, {"Response": {**resp, "RequestId": f"tc-req-{n}"}}
        body = self.aliyun.pop(0) if self.aliyun else {"Code": "OK", "Message": "OK", "BizId": f"9006197{n}^0"}
        status = int(body.pop("_status", 200))
        return status, {**body, "RequestId": f"ali-req-{n}"}


@contextlib.contextmanager
def stand_in() -> Iterator[StandIn]:
    api = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name for the POST handler
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            parsed = urllib.parse.urlsplit(self.path)
            rec = Recorded(parsed.path, dict(urllib.parse.parse_qsl(parsed.query)),
                           {k.lower(): v for k, v in self.headers.items()}, raw)
            status, body = api.answer(rec)
            api.requests.append(rec)
            out = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")  # exactly: the Tencent SDK checks it
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *_: Any) -> None:  # the server's own log would print the phone in the URL
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


def aliyun_kw(api: StandIn) -> dict[str, Any]:
    return {"notify_provider": "aliyun", "notify_aliyun_access_key_id": "LTAI-test-id",
            "notify_aliyun_access_key_secret": "test-secret", "notify_aliyun_endpoint": api.url,
            "notify_aliyun_protocol": "http", "notify_aliyun_templates": ALIYUN_TEMPLATES,
            "notify_receipt_token": RECEIPT_TOKEN}


def tencent_kw(api: StandIn) -> dict[str, Any]:
    return {"notify_provider": "tencent", "notify_tencent_secret_id": "AKID-test", "notify_tencent_secret_key": "k",
            "notify_tencent_sdk_app_id": "1400123456", "notify_tencent_endpoint": api.url,
            "notify_tencent_protocol": "http", "notify_tencent_templates": TENCENT_TEMPLATES,
            "notify_receipt_token": RECEIPT_TOKEN}


def done(msgs: list[dict[str, Any]]) -> bool:
    return bool(msgs) and all(m["status"] != "pending" for m in msgs)


async def test_aliyun_sdk_sends_signed_sendsms(servers: Servers, site: str, database_url: str) -> None:
    """The Aliyun SDK sends one signed SendSms with our sign name, template code, params, phone and message id;
    the BizId is kept and no notify event carries the phone."""
    with stand_in() as api:
        kw = aliyun_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket, number="A015", window_no=3))
            msgs = await env.wait_messages(ticket, done)
            events = await env.events(expect=1)
    assert msgs[0]["status"] == "sent" and msgs[0]["attempts"] == 1
    assert len(api.requests) == 1
    req = api.requests[0]
    assert req.headers["x-acs-action"] == "SendSms" and req.headers["x-acs-version"] == "2017-05-25"
    assert req.headers["authorization"].startswith("ACS3-HMAC-SHA256 Credential=LTAI-test-id,")
    assert "Signature=" in req.headers["authorization"] and req.headers["x-acs-signature-nonce"]
    assert req.query["PhoneNumbers"] == PHONE and req.query["SignName"] == "测试大厅"
    assert req.query["TemplateCode"] == "SMS_480001" and req.query["OutId"] == msgs[0]["id"]
    assert json.loads(req.query["TemplateParam"]) == {"number": "A015", "window_no": "3"}
    assert [e.type for e in events] == ["notify.sms.sent"] and PHONE not in json.dumps([e.data for e in events])


async def test_aliyun_flow_control_is_retried_and_illegal_number_is_final(servers: Servers, site: str,
                                                                          database_url: str) -> None:
    """isv.BUSINESS_LIMIT_CONTROL (and a 503) are retried with the same OutId until OK; isv.MOBILE_NUMBER_ILLEGAL
    fails the message at once."""
    with stand_in() as api:
        api.aliyun = [{"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"},
                      {"_status": 503, "Code": "ServiceUnavailable", "Message": "busy"},
                      {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0"},
                      {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}]
        kw = aliyun_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            first, second = uuid.uuid4(), uuid.uuid4()
            await env.contact(first)
            await env.publish(called(first))
            sent = await env.wait_messages(first, done)
            await env.contact(second)
            await env.publish(called(second, number="A016"))
            failed = await env.wait_messages(second, done)
    assert sent[0]["status"] == "sent" and sent[0]["attempts"] == 3
    assert [r.query["OutId"] for r in api.requests[:3]] == [sent[0]["id"]] * 3
    assert failed[0]["status"] == "failed" and failed[0]["attempts"] == 1
    assert failed[0]["error_code"] == "isv.MOBILE_NUMBER_ILLEGAL" and len(api.requests) == 4


async def test_tencent_sdk_sends_signed_sendsms(servers: Servers, site: str, database_url: str) -> None:
    """The Tencent SDK sends one TC3-signed SendSms (2021-01-11) with app id, sign name, template id, ordered
    params, +86 phone and our message id as SessionContext."""
    with stand_in() as api:
        kw = tencent_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket, number="B007", window_no=12))
            msgs = await env.wait_messages(ticket, done)
    assert msgs[0]["status"] == "sent" and len(api.requests) == 1
    req = api.requests[0]
    assert req.headers["x-tc-action"] == "SendSms" and req.headers["x-tc-version"] == "2021-01-11"
    assert req.headers["authorization"].startswith("TC3-HMAC-SHA256 Credential=AKID-test/")
    assert "Signature=" in req.headers["authorization"]
    assert json.loads(req.body) == {"SmsSdkAppId": "1400123456", "SignName": "测试大厅", "TemplateId": "2001001",
                                    "TemplateParamSet": ["B007", "12"], "PhoneNumberSet": ["+86" + PHONE],
                                    "SessionContext": msgs[0]["id"]}


async def test_tencent_thirty_second_limit_retried_auth_failure_final(servers: Servers, site: str,
                                                                      database_url: str) -> None:
    """LimitExceeded.PhoneNumberThirtySecondLimit is retried until Ok; AuthFailure.SignatureFailure fails at once."""
    limit = {"SendStatusSet": [{"SerialNo": "", "PhoneNumber": "+86" + PHONE, "Fee": 0, "SessionContext": "",
                                "Code": "LimitExceeded.PhoneNumberThirtySecondLimit", "Message": "30秒内",
                                "IsoCode": "CN"}]}
    with stand_in() as api:
        api.tencent = [limit, {"SendStatusSet": [{"SerialNo": "2433:77", "Code": "Ok", "Message": "send success",
                                                  "PhoneNumber": "+86" + PHONE, "Fee": 1, "SessionContext": "",
                                                  "IsoCode": "CN"}]},
                       {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "签名错误"}}]
        kw = tencent_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            first, second = uuid.uuid4(), uuid.uuid4()
            await env.contact(first)
            await env.publish(called(first))
            sent = await env.wait_messages(first, done)
            await env.contact(second)
            await env.publish(called(second, number="A016"))
            failed = await env.wait_messages(second, done)
    assert sent[0]["status"] == "sent" and sent[0]["attempts"] == 2
    assert failed[0]["status"] == "failed" and failed[0]["error_code"] == "AuthFailure.SignatureFailure"
    assert failed[0]["attempts"] == 1 and len(api.requests) == 3


async def test_unregistered_template_fails_without_a_call(servers: Servers, site: str, database_url: str) -> None:
    """A template without an Aliyun template code fails as template_not_registered and calls nobody."""
    with stand_in() as api:
        kw = {**aliyun_kw(api), "notify_aliyun_templates": {"ticket_issued": "SMS_480002"}}
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket))
            msgs = await env.wait_messages(ticket, done)
    assert msgs[0]["status"] == "failed" and msgs[0]["error_code"] == "template_not_registered"
    assert api.requests == []


async def test_aliyun_receipts_mark_delivery(servers: Servers, site: str, database_url: str) -> None:
    """An Aliyun SmsReport push with the BizId marks the message delivered (or not) in GET /messages; a wrong
    receipt token is refused."""
    with stand_in() as api:
        kw = aliyun_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            ok, bad = uuid.uuid4(), uuid.uuid4()
            await env.contact(ok)
            await env.contact(bad)
            await env.publish(called(ok))
            await env.wait_messages(ok, done)
            await env.publish(called(bad, number="A016"))
            await env.wait_messages(bad, done)
            report = [{"phone_number": PHONE, "send_time": "2026-11-20 10:00:01", "report_time": "2026-11-20 10:00:05",
                       "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
                       "biz_id": "90061970^0", "out_id": ""},
                      {"phone_number": PHONE, "send_time": "2026-11-20 10:00:02", "report_time": "2026-11-20 10:00:09",
                       "success": False, "err_code": "MK:0001", "err_msg": "空号", "sms_size": "1",
                       "biz_id": "90061971^0", "out_id": ""}]
            path = "/notify/api/v1/receipts/aliyun"
            refused = await env.client.post(path, params={"token": "guess"}, json=report)
            r = await env.client.post(path, params={"token": RECEIPT_TOKEN}, json=report)
            ok_msgs, bad_msgs = await env.messages(ok), await env.messages(bad)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert r.status_code == 200 and r.json()["code"] == 0 and r.json()["matched"] == 2
    assert ok_msgs[0]["delivery"] == "delivered" and ok_msgs[0]["delivered_at"]
    assert bad_msgs[0]["delivery"] == "undelivered" and bad_msgs[0]["delivery_code"] == "MK:0001"


async def test_tencent_and_webhook_receipts(servers: Servers, site: str, database_url: str) -> None:
    """A Tencent status callback by SerialNo marks delivery; an unknown id is counted, not an error; a bad body
    is a clear 422."""
    with stand_in() as api:
        kw = tencent_kw(api)
        provider = make_provider(notify_settings(site, database_url, servers.nats_url, **kw))
        async with start_notify(servers, site, database_url, provider=provider, **kw) as env:
            ticket = uuid.uuid4()
            await env.contact(ticket)
            await env.publish(called(ticket))
            await env.wait_messages(ticket, done)
            headers = {"X-Hallnet-Receipt-Token": RECEIPT_TOKEN}
            callback = [{"user_receive_time": "2026-11-20 10:00:05", "nationcode": "86", "mobile": PHONE,
                         "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
                         "sid": "2433:0", "ext": {}},
                        {"user_receive_time": "2026-11-20 10:00:05", "nationcode": "86", "mobile": PHONE,
                         "report_status": "FAIL", "errmsg": "MK:0001", "description": "", "sid": "9999:1", "ext": {}}]
            r = await env.client.post("/notify/api/v1/receipts/tencent", headers=headers, json=callback)
            broken = await env.client.post("/notify/api/v1/receipts/webhook", headers=headers,
                                           json=[{"message_id": "x", "status": "read"}])
            msgs = await env.messages(ticket)
    assert r.status_code == 200 and r.json() == {"result": 0, "errmsg": "OK", "received": 2, "matched": 1}
    assert msgs[0]["delivery"] == "delivered"
    assert broken.status_code == 422 and broken.json()["error"]


async def test_receipts_off_without_a_token(servers: Servers, site: str, database_url: str) -> None:
    """Without HALLNET_NOTIFY_RECEIPT_TOKEN the receipt endpoints answer 404 (nobody can mark messages)."""
    async with start_notify(servers, site, database_url) as env:
        r = await env.client.post("/notify/api/v1/receipts/webhook", json=[])
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_sdk_network_error_keeps_no_phone() -> None:
    """A connection refused by the Aliyun endpoint becomes ProviderError('unreachable') whose text has no phone."""
    import asyncio

    from services.notify.providers import AliyunProvider, OutgoingSms, ProviderError

    # nothing listens on port 9 (discard): the SDK's own error text holds the request URL, phone included
    provider = AliyunProvider("id", "secret", {"ticket_called": "SMS_1"}, endpoint="127.0.0.1:9", protocol="http",
                              timeout_s=2.0)
    sms = OutgoingSms(message_id=uuid.uuid4(), phone=PHONE, text="【测试大厅】请A015号到3号窗口办理。",
                      template="ticket_called", signature="测试大厅", parts=1,
                      variables={"number": "A015", "window_no": 3})
    try:
        asyncio.run(provider.send(sms))
    except ProviderError as exc:
        assert exc.code == "unreachable" and exc.transient and PHONE not in str(exc)
        assert exc.__cause__ is None and exc.__suppress_context__
    else:
        raise AssertionError("sent to a closed port")
