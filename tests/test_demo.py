"""`healer demo` end to end: what `make demo` runs (without the virtualenv bootstrap)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import HEALER, healer_env


@pytest.mark.slow
def test_demo_opens_three_verified_pull_requests(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = healer_env(tmp_path)  # the demo makes its own HEALER_HOME; this one must stay unused
    done = subprocess.run([HEALER, "demo"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    assert "1 duplicate (counted as occurrence 2 of" in out
    assert re.search(r"low\s+-> monitoring", out)
    rows = [line for line in out.splitlines() if re.match(r"INC-\d{8}-\d{4}\s", line)]
    opened = [row for row in rows if "pr_open" in row]
    assert len(opened) == 3 and all(re.search(r"#\d\s.*3 failing -> 2 failing\s+improved", row) for row in opened)
    assert "healer pr show 1" in out  # the reviewer's view is printed
    assert "## Root cause" in out
    # One incident goes through a review round and comes out verified, with its postmortem printed.
    assert "7. a review round on PR #" in out
    assert re.search(r"get_fix_feedback: ana on orders/cache.py:24: Please add a test", out)
    assert re.search(r"submit_fix: pushed [0-9a-f]{12} to PR #\d; unchanged: tests 2 failing before", out)
    assert re.search(r"INC-\d{8}-\d{4} verified", out)
    assert "# Postmortem: INC-" in out and "Rounds with changes requested: 1" in out
    assert not list(tmp_path.glob("*.db"))


@pytest.mark.slow
def test_demo_runs_twice_in_a_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        done = subprocess.run([HEALER, "demo"], env=healer_env(tmp_path), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:]
