"""Backoff with full jitter (seeded, no sleeping) and permanent vs transient failures."""

from __future__ import annotations

import random

import pytest

from fixer.errors import PathOutsideRepo
from server.common.retry import backoff, classify_failure
from server.errors import ConfigError, InvalidTransition, StoreUnavailable


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "ceiling"),
    [
        (0, 2.0, 300.0, 2.0),
        (1, 2.0, 300.0, 4.0),
        (5, 2.0, 300.0, 64.0),
        (7, 2.0, 300.0, 256.0),
        (8, 2.0, 300.0, 300.0),  # 512 capped
        (10_000, 2.0, 300.0, 300.0),  # no overflow on absurd attempts
        (3, 0.5, 1.0, 1.0),
    ],
)
def test_backoff_stays_within_zero_and_the_capped_exponential(
    attempt: int, base: float, cap: float, ceiling: float
) -> None:
    rng = random.Random(20261122)
    draws = [backoff(attempt, base, cap, rng) for _ in range(2000)]
    assert all(0.0 <= draw < ceiling for draw in draws)
    # full jitter: the draws spread over the whole window, not around its top
    assert min(draws) < ceiling * 0.02
    assert max(draws) > ceiling * 0.98
    assert 0.45 * ceiling < sum(draws) / len(draws) < 0.55 * ceiling


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff(n, 1.0, 60.0, random.Random(7)) for n in range(10)]
    again = [backoff(n, 1.0, 60.0, random.Random(7)) for n in range(10)]
    assert first == again


class _ScriptedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(("value", "expected"), [(0.0, 0.0), (0.5, 4.0), (0.999, 7.992)])
def test_backoff_scales_the_rng_draw_over_the_window(value: float, expected: float) -> None:
    assert backoff(3, 1.0, 100.0, _ScriptedRandom(value)) == pytest.approx(expected)


@pytest.mark.parametrize(("attempt", "base", "cap"), [(-1, 1.0, 10.0), (0, 0.0, 10.0), (0, 1.0, -1.0)])
def test_backoff_refuses_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff(attempt, base, cap, random.Random(1))


class PatchDoesNotApply(Exception):
    """Shaped like the fixer's errors: they say whether retrying can help."""

    permanent = True


class PushRejectedByRateLimit(Exception):
    permanent = False


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (PatchDoesNotApply("hunk 2 failed"), "permanent"),  # the fixer says so
        (PushRejectedByRateLimit("retry later"), "transient"),  # the fixer says so
        (PathOutsideRepo("../etc/passwd", "outside the repository"), "permanent"),  # a policy refusal
        (ConfigError("bad"), "permanent"),
        (InvalidTransition("INC-1", "merged", "fixing", []), "transient"),  # state moves on; a retry may pass
        (StoreUnavailable("connection refused"), "transient"),
        (TimeoutError("tests took too long"), "transient"),
        (ConnectionResetError(), "transient"),
        (RuntimeError("anything else"), "transient"),
    ],
)
def test_classify_failure(error: BaseException, kind: str) -> None:
    assert classify_failure(error) == kind
