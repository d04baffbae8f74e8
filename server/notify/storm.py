"""Storm control: fold repeats of one (channel, incident, kind) into one message, and rate-limit each channel.

Both are pure over time passed in: the fold decision reads the last-sent time the outbox keeps,
and the token buckets read an injected monotonic clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from server.notify.events import EventKind

StormKey = tuple[str, str, EventKind]  # (channel, incident id, kind)
FoldDecision = Literal["send", "fold"]


def fold_or_send(last_sent_at: datetime | None, now: datetime, window: timedelta) -> FoldDecision:
    """Send when nothing was sent for this key within ``window``; otherwise fold into the next message."""
    if last_sent_at is None or window <= timedelta(0):
        return "send"
    return "fold" if now - last_sent_at < window else "send"


def storm_decision(
    key: StormKey, last_sent: Mapping[StormKey, datetime], now: datetime, window: timedelta
) -> FoldDecision:
    """``fold_or_send`` for one key of the outbox's last-sent table."""
    return fold_or_send(last_sent.get(key), now, window)


@dataclass
class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; one token per message."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got rate={self.rate} burst={self.burst}")
        self.tokens = float(self.burst)

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        if self.updated is None or now > self.updated:
            self.updated = now

    def take(self, now: float) -> bool:
        """Spend a token if one is there."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until a token is there (0 when one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per channel, created on first use from its (per-minute rate, burst)."""

    def __init__(
        self,
        limits: Mapping[str, tuple[float, int]],
        *,
        clock: Callable[[], float] = time.monotonic,
        default: tuple[float, int] = (20.0, 5),
    ) -> None:
        self._limits = dict(limits)
        self._default = default
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, channel: str) -> TokenBucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            per_minute, burst = self._limits.get(channel, self._default)
            bucket = self._buckets[channel] = TokenBucket(rate=per_minute / 60.0, burst=burst)
        return bucket

    def allow(self, channel: str) -> bool:
        """True and a token spent, or False: the sender should wait ``retry_after(channel)``."""
        return self._bucket(channel).take(self._clock())

    def retry_after(self, channel: str) -> float:
        return self._bucket(channel).wait(self._clock())
