"""Standard Webhooks signing: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` under the ``whsec_`` key.

The key is the base64-decoded part after ``whsec_``. The spec:
github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md. Receivers check the
signature in constant time and refuse timestamps outside a tolerance (5 minutes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from server.common.credentials import too_short
from server.errors import WebhookSignatureInvalid

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's marker, not a secret)
TOLERANCE = timedelta(minutes=5)


def decode_secret(secret: str) -> bytes:
    """The HMAC key: the base64 after ``whsec_`` (the prefix is optional), decoded."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc
    problem = too_short(key)
    if problem is not None:
        raise ValueError(f"the webhook secret (once base64-decoded) {problem}; `healer notify secret` prints one")
    return key


def generate_secret(token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A new secret of 32 random bytes (the spec asks for 24 to 64), in ``whsec_`` form."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,...`` signature of one delivery."""
    if "." in msg_id or not msg_id:
        # The signed content is "{id}.{timestamp}.{body}": a dot in the id would make it ambiguous.
        raise ValueError(f"a webhook id must be non-empty and contain no '.', got {msg_id!r}")
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(secret: str, msg_id: str, now: datetime, body: bytes) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` (unix seconds of ``now``) and ``webhook-signature``."""
    timestamp = int(now.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: datetime, tolerance: timedelta = TOLERANCE
) -> None:
    """Accept a delivery signed with ``secret`` or raise WebhookSignatureInvalid saying why.

    The signature header may list several space-separated signatures (secret rotation); one
    ``v1`` match is enough.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    offered = lower.get("webhook-signature", "")
    if not (msg_id and stamp and offered):
        raise WebhookSignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookSignatureInvalid(f"webhook-timestamp {stamp[:20]!r} is not unix seconds") from exc
    age = now.timestamp() - timestamp
    if age > tolerance.total_seconds():
        raise WebhookSignatureInvalid(f"timestamp is {int(age)} s old (tolerance {int(tolerance.total_seconds())} s)")
    if -age > tolerance.total_seconds():
        raise WebhookSignatureInvalid(f"timestamp is {int(-age)} s in the future")
    try:
        expected = sign(secret, msg_id, timestamp, body).encode("ascii")
    except ValueError as exc:
        raise WebhookSignatureInvalid(str(exc)) from exc
    for candidate in offered.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode("ascii", "replace"), expected):
            return
    raise WebhookSignatureInvalid("no v1 signature matches")
