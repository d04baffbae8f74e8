"""Amazon SNS message signatures: certificate URL rules, the string to sign, a fetch-once cache.

SNS signs each HTTP(S) delivery with RSA PKCS#1 v1.5 (SignatureVersion 1: SHA1, 2: SHA256)
over ``key\\nvalue\\n`` pairs of documented fields, in a fixed order that depends on the
message Type. The signing certificate is fetched from ``SigningCertURL``, which must be an
https URL on an ``sns.<region>.amazonaws.com`` (or ``.amazonaws.com.cn``) host ending in
``.pem``; the GET goes through an injected fetcher and its result is cached per URL. Trust
in the certificate comes from that fetch: the fetcher must verify TLS and not follow
redirects. The certificate must also be valid at the time of the delivery.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from server.intake.sources.errors import CertificateUnavailable, PayloadInvalid, SourceUnauthorized

_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The documented fields of the string to sign, in order; Subject only when the message has one.
_SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    UNSUBSCRIBE_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_OPTIONAL_FIELDS = frozenset({"Subject"})

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

#: How far in the future a message timestamp may be (clock skew between AWS and us).
_FUTURE_SKEW = timedelta(minutes=5)


class UrlFetcher(Protocol):
    """An HTTP GET that returns the response body (and raises on a non-2xx answer)."""

    def __call__(self, url: str) -> bytes: ...


def sns_url_problem(url: object, *, pem: bool) -> str | None:
    """Why ``url`` is not an SNS URL we may fetch, or None when it is one."""
    if not isinstance(url, str) or not url:
        return "is missing"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL"
    if parts.scheme != "https":
        return "is not an https URL"
    # A user part or an explicit port could point the fetch elsewhere than the named host.
    if parts.username is not None or port not in (None, 443):
        return "must name the host only"
    if not _SNS_HOST.match(parts.hostname or ""):
        return "is not on an sns.<region>.amazonaws.com host"
    if pem and not parts.path.endswith(".pem"):
        return "does not end in .pem"
    return None


def envelope_type(message: Mapping[str, Any]) -> str | None:
    """The SNS message Type when ``message`` looks like an SNS envelope (signed or not), else None."""
    kind = message.get("Type")
    if isinstance(kind, str) and "TopicArn" in message and "MessageId" in message:
        return kind
    return None


def string_to_sign(message: Mapping[str, Any]) -> bytes | None:
    """The bytes SNS signed for this message, or None when a signed field is missing."""
    fields = _SIGNED_FIELDS.get(str(message.get("Type")))
    if fields is None:
        return None
    parts: list[str] = []
    for key in fields:
        value = message.get(key)
        if value is None and key in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            return None
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


class CertificateCache:
    """SNS signing certificates by URL, each fetched once through the injected fetcher."""

    def __init__(self, fetch: UrlFetcher, *, max_entries: int = 32) -> None:
        self._fetch = fetch
        self._max_entries = max_entries
        self._certificates: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            found = self._certificates.get(url)
        if found is not None:
            return found
        try:
            pem = self._fetch(url)
        except Exception as exc:  # the fetcher is injected: any failure means "not now"
            raise CertificateUnavailable(url, type(exc).__name__) from exc
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise CertificateUnavailable(url, "the answer is not a PEM X.509 certificate") from exc
        with self._lock:
            if len(self._certificates) >= self._max_entries:
                self._certificates.pop(next(iter(self._certificates)))
            self._certificates[url] = certificate
        return certificate


def verify_sns_message(
    message: Mapping[str, Any],
    *,
    source: str,
    certificates: CertificateCache | None,
    now: datetime,
    max_age: timedelta | None,
) -> None:
    """Raise ``SourceUnauthorized`` unless ``message`` carries a valid SNS signature."""

    def refuse(reason: str) -> SourceUnauthorized:
        return SourceUnauthorized(source, f"SNS message {reason}")

    kind = message.get("Type")
    if kind not in _SIGNED_FIELDS:
        raise refuse(f"has an unknown Type {kind!r}")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise refuse("has a SignatureVersion other than 1 or 2")
    # The HTTP envelope says SigningCertURL; the Lambda event form of the same message, SigningCertUrl.
    cert_url = message.get("SigningCertURL", message.get("SigningCertUrl"))
    problem = sns_url_problem(cert_url, pem=True)
    if problem is not None:
        raise refuse(f"SigningCertURL {problem}")
    signed = string_to_sign(message)
    if signed is None:
        raise refuse("lacks a field that SNS signs (Message, MessageId, Timestamp, TopicArn, Type...)")
    if not message.get("Signature"):
        raise refuse("has no Signature")
    try:
        signature = base64.b64decode(str(message["Signature"]), validate=True)
    except (binascii.Error, ValueError):
        raise refuse("Signature is not base64") from None
    if certificates is None:
        raise refuse("cannot be verified: no certificate fetcher is configured")
    certificate = certificates.certificate(str(cert_url))
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise refuse("is signed with a certificate that is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise refuse("is signed with a certificate whose key is not RSA")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise refuse("signature does not match its content") from None
    if max_age is not None:
        try:
            sent = datetime.fromisoformat(str(message.get("Timestamp")))
        except ValueError:
            raise refuse("Timestamp is not an ISO 8601 time") from None
        if sent.tzinfo is None or now - sent > max_age or sent - now > _FUTURE_SKEW:
            raise refuse(f"Timestamp {message.get('Timestamp')} is outside the accepted age of {max_age}")


def confirm_subscription(url: str, fetch: UrlFetcher) -> None:
    """GET an SNS SubscribeURL through ``fetch``, refusing any URL that is not on an SNS host."""
    problem = sns_url_problem(url, pem=False)
    if problem is not None:
        raise PayloadInvalid("SubscribeURL", problem, source_type="SNS")
    fetch(url)
