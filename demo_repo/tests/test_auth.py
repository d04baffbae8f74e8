from datetime import UTC, datetime, timedelta

import pytest

from orders.auth import TokenExpiredError, TokenInvalidError, sign, verify

KEY = b"test-key"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_tokens_expire():
    fresh = sign("checkout", NOW + timedelta(hours=1), KEY)
    assert verify(fresh, KEY, NOW) == "checkout"
    stale = sign("checkout", NOW - timedelta(seconds=1), KEY)
    with pytest.raises(TokenExpiredError):
        verify(stale, KEY, NOW)


def test_tampered_token_is_rejected():
    token = sign("checkout", NOW + timedelta(hours=1), KEY)
    with pytest.raises(TokenInvalidError):
        verify(token, b"other-key", NOW)
