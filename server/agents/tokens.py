"""Run tokens: one per run, handed to its agent in the MCP config; only the hash is stored."""

from __future__ import annotations

import hashlib
import secrets

#: Every run token starts with this, so the guards can tell it from the API token without a lookup.
PREFIX = "hrt_"


def mint() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_run_token(value: str | bytes) -> bool:
    raw = value.decode("latin-1") if isinstance(value, bytes) else value
    return raw.startswith(PREFIX) and 20 < len(raw) < 200
