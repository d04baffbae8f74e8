"""Fixer overhead: submit_fix to PR recorded (no test run) beside the same git steps on the command line.

Both sides start from the same cached clone and do worktree add, apply a diff, commit, push to a
bare remote and worktree remove; the fixer also plans and polices the change, checks the patch on
a throwaway index, fetches, and records the PR. Interleaved runs, medians. Target: at most 1.5x.
Run: .venv/bin/python bench/bench_fixer.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.models import Change, FixRequest, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from tests.conftest import MemoryPullRequests
from tests.fixer_repo import ADD_FIX, diff_for, make_calc_repo


def git(cwd: Path, *args: str, input_text: str | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, input=input_text, text=True, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    source = make_calc_repo(root / "calc")
    diff = diff_for(source, ADD_FIX, root)
    bare = ensure_bare_remote(str(source), root / "forge.git")
    records = MemoryPullRequests()
    forge = LocalForge("calc", bare, records)
    workspace = Workspace(root / "ws")
    fixer = Fixer(workspace)
    policy = PolicyConfig(verify_before=False, max_open_prs=10_000)
    spec = RepoSpec(name="calc", path=source, test_command=None, policy=policy)
    cli_cache = root / "cli-cache.git"
    git(root, "clone", "-q", "--bare", str(bare), str(cli_cache))

    def with_fixer(n: int) -> float:
        request = FixRequest(
            incident_id=f"INC-20261122-{n:04d}",
            service="calc",
            severity="high",
            title="t",
            summary="add adds",
            explanation="benchmark",
            trace_id="t",
            change=Change(diff=diff),
        )
        started = time.perf_counter()
        result = fixer.submit(spec, request, forge)
        assert result.pull_request is not None
        return time.perf_counter() - started

    def with_git(n: int) -> float:
        work = root / f"cli-{n}"
        started = time.perf_counter()
        git(cli_cache, "fetch", "-q", str(bare), "+refs/heads/main:refs/heads/main")
        git(cli_cache, "worktree", "add", "-q", "--detach", str(work), "main")
        git(work, "apply", "-", input_text=diff)
        git(work, "add", "--all", "--", "app/calc.py")
        git(work, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "fix")
        git(work, "push", "-q", str(bare), f"HEAD:refs/heads/cli/{n}")
        git(cli_cache, "worktree", "remove", "--force", str(work))
        return time.perf_counter() - started

    with_fixer(1)
    with_git(1)  # warm caches
    ours, baseline = [], []
    for n in range(2, args.runs + 2):
        ours.append(with_fixer(n))
        baseline.append(with_git(n))
    a, b = statistics.median(ours) * 1000, statistics.median(baseline) * 1000
    print(f"{args.runs} runs each, interleaved, medians")
    print(f"submit_fix to PR recorded (no tests): {a:.1f} ms")
    print(f"same git steps on the command line:   {b:.1f} ms")
    print(f"ratio {a / b:.2f}x (target <= 1.5x)")
    print(f"{'PASS' if a / b <= 1.5 else 'MISS'}: submit_fix {a / b:.2f}x of plain git (target <= 1.5x)")


if __name__ == "__main__":
    main()
