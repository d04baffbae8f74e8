"""Storm control: folding repeats, and per-channel token buckets on an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from server.notify.events import EventKind
from server.notify.storm import RateLimiter, StormKey, TokenBucket, fold_or_send, storm_decision

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


@pytest.mark.parametrize(
    ("last_sent", "now", "window", "decision"),
    [
        (None, T0, WINDOW, "send"),  # first message for this key
        (T0, T0 + timedelta(seconds=1), WINDOW, "fold"),
        (T0, T0 + timedelta(minutes=4, seconds=59), WINDOW, "fold"),
        (T0, T0 + WINDOW, WINDOW, "send"),  # the window has passed
        (T0, T0 + timedelta(seconds=1), timedelta(0), "send"),  # folding switched off
    ],
)
def test_fold_or_send(last_sent: datetime | None, now: datetime, window: timedelta, decision: str) -> None:
    assert fold_or_send(last_sent, now, window) == decision


def test_a_storm_of_occurrences_yields_one_message_per_window() -> None:
    last_sent: dict[StormKey, datetime] = {}
    key: StormKey = ("oncall", "INC-20261122-0042", EventKind.regressed)
    sent = folded = 0
    for tick in range(10_000):  # one occurrence every 60 ms for ten minutes
        now = T0 + timedelta(milliseconds=60 * tick)
        if storm_decision(key, last_sent, now, WINDOW) == "send":
            last_sent[key] = now
            sent += 1
        else:
            folded += 1
    assert (sent, folded) == (2, 9_998)


def test_keys_fold_independently() -> None:
    last_sent: dict[StormKey, datetime] = {("oncall", "INC-1", EventKind.regressed): T0}
    now = T0 + timedelta(seconds=10)
    assert storm_decision(("oncall", "INC-1", EventKind.regressed), last_sent, now, WINDOW) == "fold"
    assert storm_decision(("audit", "INC-1", EventKind.regressed), last_sent, now, WINDOW) == "send"
    assert storm_decision(("oncall", "INC-2", EventKind.regressed), last_sent, now, WINDOW) == "send"
    assert storm_decision(("oncall", "INC-1", EventKind.merged), last_sent, now, WINDOW) == "send"


def test_token_bucket_allows_a_burst_then_the_refill_rate() -> None:
    bucket = TokenBucket(rate=0.5, burst=3)  # one token every 2 s
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait(0.0) == pytest.approx(2.0)
    assert bucket.take(1.0) is False
    assert bucket.wait(1.0) == pytest.approx(1.0)
    assert bucket.take(2.0) is True
    # a long quiet spell refills to the burst size, not beyond
    assert [bucket.take(1000.0) for _ in range(4)] == [True, True, True, False]


def test_token_bucket_ignores_a_clock_going_backwards() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(10.0) is True
    assert bucket.take(5.0) is False
    assert bucket.take(10.5) is False
    assert bucket.take(11.0) is True


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (1.0, 0)])
def test_token_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_rate_limiter_keeps_one_bucket_per_channel_on_the_injected_clock() -> None:
    readings: Iterator[float] = iter([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 30.0, 30.0])
    limiter = RateLimiter({"oncall": (2.0, 2)}, clock=lambda: next(readings), default=(60.0, 1))
    assert [limiter.allow("oncall"), limiter.allow("oncall"), limiter.allow("oncall")] == [True, True, False]
    assert limiter.retry_after("oncall") == pytest.approx(30.0)  # 2 per minute
    assert [limiter.allow("audit"), limiter.allow("audit")] == [True, False]  # the default, its own bucket
    assert limiter.allow("oncall") is True  # 30 s later
    assert limiter.retry_after("oncall") == pytest.approx(30.0)
