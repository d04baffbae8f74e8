"""Retry, the pure parts: capped exponential backoff with full jitter, and permanent vs transient failures."""

from __future__ import annotations

from typing import Literal, Protocol

from server.errors import ConfigError, InvalidInput

FailureKind = Literal["permanent", "transient"]
#: Past this many doublings every base in use is above any sane cap; avoids huge intermediate numbers.
_MAX_EXPONENT = 62


class Random(Protocol):
    """``random.Random`` satisfies it; tests pass a seeded one."""

    def random(self) -> float: ...


def backoff(attempt: int, base: float, cap: float, rng: Random) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)).

    AWS's "full jitter": spreading retries over the whole window keeps failed callers from
    retrying in lockstep.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, got {attempt}")
    if base <= 0 or cap <= 0:
        raise ValueError(f"base and cap must be positive, got base={base} cap={cap}")
    ceiling = cap if attempt > _MAX_EXPONENT else min(cap, base * 2**attempt)
    return rng.random() * ceiling


def classify_failure(error: BaseException) -> FailureKind:
    """Whether retrying can help.

    An error that says so (a ``permanent`` attribute, as the fixer's errors carry: a policy
    refusal, a patch that cannot apply) is believed. Our own input and configuration errors are
    permanent. Everything else (network, timeouts, a flaky test run) is transient: the attempt
    budget bounds the retries.
    """
    flag = getattr(error, "permanent", None)
    if isinstance(flag, bool):
        return "permanent" if flag else "transient"
    if isinstance(error, InvalidInput | ConfigError):
        return "permanent"
    return "transient"
