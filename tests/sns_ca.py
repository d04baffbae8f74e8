"""A test certificate authority that signs SNS messages the way Amazon SNS does, and a recording fetcher.

The CA issues one signing certificate; ``SnsSigner.sign`` fills SignatureVersion,
SigningCertURL and Signature of a message like SNS (RSA PKCS#1 v1.5 over the documented
string to sign, SHA1 for version 1, SHA256 for version 2). Nothing touches the network: the
``RecordingFetcher`` answers certificate URLs from a dict and records each GET.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0000test.pem"
TOPIC = "arn:aws:sns:us-west-2:123456789012:healer-alarms"
VALID_FROM = datetime(2026, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2027, 12, 31, tzinfo=UTC)

_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


@dataclass
class RecordingFetcher:
    """The one fake for the injected URL fetcher: answers from ``pages``, records every URL asked."""

    pages: dict[str, bytes] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if url not in self.pages:
            raise ConnectionError(f"no page for {url}")
        return self.pages[url]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class SnsSigner:
    key: rsa.RSAPrivateKey
    certificate_pem: bytes

    def sign(self, message: dict[str, Any], *, version: str = "1", cert_url: str = CERT_URL) -> dict[str, Any]:
        signed = dict(message, SignatureVersion=version, SigningCertURL=cert_url)
        text = "".join(
            f"{key}\n{signed[key]}\n" for key in _SIGNED[signed["Type"]] if signed.get(key) is not None
        ).encode()
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signed["Signature"] = base64.b64encode(self.key.sign(text, padding.PKCS1v15(), algorithm)).decode()
        return signed


@cache
def signer() -> SnsSigner:
    """A CA and the SNS signing certificate it issued, made once per test session."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("healer test CA"))
        .issuer_name(_name("healer test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("sns.amazonaws.com"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .sign(ca_key, hashes.SHA256())
    )
    return SnsSigner(key=key, certificate_pem=certificate.public_bytes(serialization.Encoding.PEM))
