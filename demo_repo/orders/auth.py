"""Service tokens: who may call the orders API, and until when."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

log = logging.getLogger("orders.auth")


class TokenExpiredError(PermissionError):
    """The token's expiry time has passed."""


class TokenInvalidError(PermissionError):
    """The token's signature does not match."""


@dataclass(frozen=True)
class Token:
    subject: str
    expires_at: datetime
    signature: str


def sign(subject: str, expires_at: datetime, key: bytes) -> Token:
    message = f"{subject}|{expires_at.isoformat()}".encode()
    return Token(subject, expires_at, hmac.new(key, message, hashlib.sha256).hexdigest())


def verify(token: Token, key: bytes, now: datetime | None = None) -> str:
    """The token's subject, if its signature is right and it has not expired."""
    message = f"{token.subject}|{token.expires_at.isoformat()}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, token.signature):
        raise TokenInvalidError("token signature does not match")
    current = now or datetime.now(UTC)
    if token.expires_at > current:
        log.warning("rejected expired token for %s (expired %s)", token.subject, token.expires_at.isoformat())
        raise TokenExpiredError(f"token for {token.subject} expired at {token.expires_at.isoformat()}")
    return token.subject
