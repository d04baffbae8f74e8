"""Standard Webhooks signing, checked against the reference library and its published test vector."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from server.errors import WebhookSignatureInvalid
from server.models import Severity, Status
from server.notify.events import EventKind, NotificationEvent
from server.notify.signing import (
    decode_secret,
    generate_secret,
    sign,
    signature_headers,
    verify,
)
from server.notify.webhook import WebhookChannel, WebhookConfig

# From the reference implementation's own test suite (standard-webhooks, libraries/python/tests):
# this secret, id, timestamp and body must sign to this signature.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def event() -> NotificationEvent:
    return NotificationEvent(
        id="evt_5f2c9a1b7d3e4f60",
        kind=EventKind.pr_opened,
        incident_id="INC-20261122-0042",
        title="Pool exhausted — naïve retry loop",  # non-ASCII: the signed bytes are the UTF-8 body
        service="orders-api",
        severity=Severity.high,
        status=Status.pr_open,
        source="sentry",
        occurred_at=datetime(2026, 11, 22, 9, 14, 3, tzinfo=UTC),
    )


def webhook_channel(secret: str = VECTOR_SECRET) -> WebhookChannel:
    config = WebhookConfig(url=SecretStr("https://audit.example.com/hooks/healer"), secret=SecretStr(secret))
    return WebhookChannel("audit", config)


def now() -> datetime:
    # The reference library checks timestamps against the real clock, so these tests sign with it.
    return datetime.now(UTC)


# ---- the published vector ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", [VECTOR_SECRET, VECTOR_SECRET.removeprefix("whsec_")])
def test_sign_matches_the_reference_vector(secret: str) -> None:
    assert sign(secret, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_verify_accepts_the_reference_vector_at_its_time() -> None:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    verify(VECTOR_SECRET, VECTOR_BODY, headers, now=datetime.fromtimestamp(VECTOR_TIMESTAMP + 60, UTC))


# ---- round trips with the reference library ------------------------------------------------------


def test_reference_library_accepts_what_the_channel_sends() -> None:
    request = webhook_channel().render(event(), now=now())
    payload = Webhook(VECTOR_SECRET).verify(request.body, request.headers)
    assert payload == json.loads(request.body)
    assert payload["data"]["incident_id"] == "INC-20261122-0042"


def test_we_accept_what_the_reference_library_signs() -> None:
    body = json.dumps({"type": "incident.merged", "data": {"id": "INC-1"}})
    stamp = now().replace(microsecond=0)
    headers = {
        "webhook-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(VECTOR_SECRET).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", stamp, body),
    }
    verify(VECTOR_SECRET, body.encode(), headers, now=stamp + timedelta(seconds=3))


def test_reference_library_rejects_a_tampered_body() -> None:
    request = webhook_channel().render(event(), now=now())
    tampered = request.body.replace(b"orders-api", b"orders-apx")
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(VECTOR_SECRET).verify(tampered, request.headers)


@pytest.mark.parametrize(("shift", "message"), [(-timedelta(minutes=6), "too old"), (timedelta(minutes=6), "too new")])
def test_reference_library_rejects_a_timestamp_out_of_tolerance(shift: timedelta, message: str) -> None:
    request = webhook_channel().render(event(), now=now() + shift)
    with pytest.raises(WebhookVerificationError, match=message):
        Webhook(VECTOR_SECRET).verify(request.body, request.headers)


def test_reference_library_rejects_another_secret() -> None:
    request = webhook_channel(generate_secret()).render(event(), now=now())
    with pytest.raises(WebhookVerificationError):
        Webhook(VECTOR_SECRET).verify(request.body, request.headers)


def test_generated_secrets_work_with_the_reference_library() -> None:
    secret = generate_secret(lambda n: bytes(range(n)))
    assert secret == "whsec_" + base64.b64encode(bytes(range(32))).decode()
    request = webhook_channel(secret).render(event(), now=now())
    Webhook(secret).verify(request.body, request.headers)


# ---- our verifier ------------------------------------------------------------------------------

SIGNED_AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BODY = b'{"type":"incident.merged"}'
GOOD = signature_headers(VECTOR_SECRET, "msg_1", SIGNED_AT, BODY)


@pytest.mark.parametrize(
    ("body", "headers", "at", "reason"),
    [
        (BODY + b" ", GOOD, SIGNED_AT, "no v1 signature matches"),
        (BODY, {**GOOD, "webhook-id": "msg_2"}, SIGNED_AT, "no v1 signature matches"),
        (BODY, GOOD, SIGNED_AT + timedelta(minutes=5, seconds=1), "timestamp is 301 s old (tolerance 300 s)"),
        (BODY, GOOD, SIGNED_AT - timedelta(minutes=6), "timestamp is 360 s in the future"),
        (BODY, {k: v for k, v in GOOD.items() if k != "webhook-signature"}, SIGNED_AT, "missing webhook-id"),
        (BODY, {**GOOD, "webhook-timestamp": "yesterday"}, SIGNED_AT, "is not unix seconds"),
        (BODY, {**GOOD, "webhook-signature": "v1a," + GOOD["webhook-signature"][3:]}, SIGNED_AT, "no v1 signature"),
        (BODY, {**GOOD, "webhook-id": "msg.1"}, SIGNED_AT, "contain no '.'"),
    ],
)
def test_verify_rejects(body: bytes, headers: dict[str, str], at: datetime, reason: str) -> None:
    with pytest.raises(WebhookSignatureInvalid, match=re.escape(reason)):
        verify(VECTOR_SECRET, body, headers, now=at)


def test_verify_accepts_any_one_of_several_signatures_and_any_header_case() -> None:
    rotated = signature_headers(generate_secret(), "msg_1", SIGNED_AT, BODY)["webhook-signature"]
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": GOOD["webhook-timestamp"],
        "Webhook-Signature": f"{rotated} v2,abc {GOOD['webhook-signature']}",
    }
    verify(VECTOR_SECRET, BODY, headers, now=SIGNED_AT)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", ""])
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        decode_secret(secret)


def test_secret_from_config_is_checked() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        WebhookConfig(url=SecretStr("https://x.example"), secret=SecretStr("hunter2!"))
    WebhookConfig(url=SecretStr("https://x.example"), secret=SecretStr("env:HEALER_AUDIT_SECRET"))  # read at start-up


# ---- over real HTTP, as the outbox sender will send it --------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            payload = Webhook(VECTOR_SECRET).verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            self.send_response(401)
        else:
            self.received.append(payload)
            self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/healer"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_rendered_request_is_accepted_by_a_receiver_over_http(receiver: str) -> None:
    _Receiver.received.clear()
    config = WebhookConfig(url=SecretStr(receiver), secret=SecretStr(VECTOR_SECRET), allow_private=True)
    request = WebhookChannel("audit", config).render(event(), now=now())
    response = httpx.post(request.url.get_secret_value(), content=request.body, headers=request.headers)
    assert response.status_code == 204
    assert _Receiver.received[0]["type"] == "incident.pr_opened"

    forged = httpx.post(
        request.url.get_secret_value(), content=request.body.replace(b"high", b"low"), headers=request.headers
    )
    assert forged.status_code == 401
