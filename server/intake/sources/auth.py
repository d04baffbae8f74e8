"""Who sent a delivery: bearer, basic and header secrets, and hex HMAC-SHA256 signatures.

Every comparison is constant-time (``hmac.compare_digest`` on bytes), and no message echoes
a secret or the value that was sent in its place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from pydantic import Field, SecretStr, model_validator

from server.common.credentials import Secret
from server.intake.sources.base import Headers, SourceConfig
from server.intake.sources.errors import SourceUnauthorized


class HttpAuthConfig(SourceConfig):
    """Credentials a sender can put in a request header; any one configured credential admits it."""

    bearer_token: Secret | None = Field(default=None, description="Expect `Authorization: Bearer <token>`.")
    basic_username: str | None = Field(default=None, description="Expect HTTP basic auth with this user...")
    basic_password: Secret | None = Field(default=None, description="...and this password.")
    header_name: str = Field(default="X-Healer-Token", description="The header that carries `header_secret`.")
    header_secret: Secret | None = Field(
        default=None,
        description="Expect this value in `header_name` (for senders that only set custom headers).",
    )

    @model_validator(mode="after")
    def _basic_pair(self) -> HttpAuthConfig:
        if (self.basic_username is None) != (self.basic_password is None):
            raise ValueError("basic_username and basic_password go together: set both or neither")
        return self

    def http_checks(self) -> list[str]:
        checks = []
        if self.bearer_token is not None:
            checks.append("bearer token")
        if self.basic_password is not None:
            checks.append("basic auth")
        if self.header_secret is not None:
            checks.append(f"{self.header_name} header")
        return checks

    def verification(self) -> list[str]:
        return self.http_checks()


def same(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality of two strings or byte strings."""
    left = expected.encode("utf-8") if isinstance(expected, str) else expected
    right = given.encode("utf-8") if isinstance(given, str) else given
    return hmac.compare_digest(left, right)


def _authorization(headers: Headers, scheme: str) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    given_scheme, _, credentials = value.strip().partition(" ")
    if given_scheme.lower() != scheme:
        return None
    return credentials.strip()


def http_auth_passes(headers: Headers, config: HttpAuthConfig) -> bool:
    """True when the request carries one of the configured credentials."""
    if config.bearer_token is not None:
        token = _authorization(headers, "bearer")
        if token is not None and same(config.bearer_token.get_secret_value(), token):
            return True
    if config.basic_username is not None and config.basic_password is not None:
        encoded = _authorization(headers, "basic")
        if encoded is not None:
            try:
                decoded = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            user, _, password = decoded.partition(b":")
            # Both compares run, so the time taken does not tell which half was wrong.
            user_ok = same(config.basic_username, user)
            password_ok = same(config.basic_password.get_secret_value(), password)
            if user_ok and password_ok:
                return True
    if config.header_secret is not None:
        given = headers.get(config.header_name.lower())
        if given is not None and same(config.header_secret.get_secret_value(), given.strip()):
            return True
    return False


def check_http_auth(headers: Headers, config: HttpAuthConfig) -> None:
    """Refuse the delivery when credentials are configured and the request carries none of them."""
    checks = config.http_checks()
    if not checks or http_auth_passes(headers, config):
        return
    absent = []
    if (config.bearer_token is not None or config.basic_password is not None) and "authorization" not in headers:
        absent.append("Authorization")
    if config.header_secret is not None and config.header_name.lower() not in headers:
        absent.append(config.header_name)
    hint = f" (no {' or '.join(absent)} header was sent)" if absent else ""
    raise SourceUnauthorized(
        config.name, f"the request carries none of the configured credentials: {' or '.join(checks)}{hint}"
    )


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def any_signature_matches(secrets: Iterable[SecretStr], message: bytes, signatures: Iterable[str]) -> bool:
    """True when one of ``signatures`` (hex) is the HMAC-SHA256 of ``message`` under one of ``secrets``."""
    given = [signature.strip().lower() for signature in signatures if signature.strip()]
    matched = False
    for secret in secrets:
        expected = hmac_sha256_hex(secret.get_secret_value(), message)
        for signature in given:
            matched |= same(expected, signature)
    return matched


def sha256_signature_matches(secret: SecretStr, body: bytes, header_value: str | None) -> bool:
    """True when ``header_value`` is ``sha256=<hex HMAC-SHA256 of body>`` under ``secret``: the form of
    GitHub's ``X-Hub-Signature-256`` and of our ``X-Healer-Signature-256``, compared in constant time."""
    given = (header_value or "").strip()
    if not given.startswith("sha256="):
        return False
    return any_signature_matches([secret], body, [given.removeprefix("sha256=")])
