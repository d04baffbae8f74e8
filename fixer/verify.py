"""Verification: run the repository's own test command in the worktree, before and after the change.

The command runs in the sandbox (fixer/sandbox.py: the server's files, processes and the network
out of reach), with a time limit (the whole process group is killed when it runs over), an
output cap, and an environment without the bot's credentials: a repository's tests must not be
able to read the token that pushes to it.
"""

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from fixer.errors import TestCommandNotFound
from fixer.models import TestRun, Verdict, Verification
from fixer.sandbox import BWRAP, SandboxMode, SandboxSpec, wrap

# Variables a test run inherits; everything else (tokens, HEALER_* settings) stays out.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TERM", "PYTHONPATH", "VIRTUAL_ENV", "JAVA_HOME", "GOPATH")
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - .*)?$", re.MULTILINE)
_JUNIT_FAILED = re.compile(r"^--- FAIL: (\S+)", re.MULTILINE)  # go test


class Runner(Protocol):
    def run(
        self, command: str, cwd: Path, *, timeout: float, output_cap: int, sandbox: SandboxSpec, mode: SandboxMode
    ) -> TestRun:
        """Raises SandboxUnavailable when ``mode`` is required and the sandbox cannot be set up."""
        ...


def test_environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key in _INHERITED}
    env["CI"] = "true"
    # A .pyc written by the run before the change can outlive an edit of the same size made in
    # the same second, and the run after would test the old code.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def failed_tests(output: str) -> list[str]:
    """Test ids a runner reported as failed (pytest's FAILED/ERROR lines, go test's --- FAIL)."""
    found = _PYTEST_FAILED.findall(output) + _JUNIT_FAILED.findall(output)
    return sorted(set(found))


def resolve_command(command: str, cwd: Path, env: Mapping[str, str]) -> list[str]:
    """The command's argv, once its program is known to exist on the test environment's PATH (or, for a
    path such as ./run-tests, in the worktree). A program that is not there raises TestCommandNotFound
    rather than becoming a red run (exit 127) and a draft pull request."""
    argv = shlex.split(command)
    path = env.get("PATH", "")
    if not argv:
        raise TestCommandNotFound(command, "", path)
    program = argv[0]
    if os.sep in program:
        target = cwd / program
        found = target.is_file() and os.access(target, os.X_OK)
    else:
        found = shutil.which(program, path=path) is not None
    if not found:
        raise TestCommandNotFound(command, program, path)
    return argv


class SubprocessRunner:
    """Runs a test command in the sandbox, as its own process group; kills the group on timeout.

    ``bwrap`` is the sandbox program (a name on PATH or a path).
    """

    def __init__(self, *, bwrap: str = BWRAP) -> None:
        self.bwrap = bwrap

    def run(
        self, command: str, cwd: Path, *, timeout: float, output_cap: int, sandbox: SandboxSpec, mode: SandboxMode
    ) -> TestRun:
        env = test_environment()
        given = resolve_command(command, cwd, env)
        argv = wrap(given, sandbox, mode, bwrap=self.bwrap, cwd=cwd)
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                argv,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return TestRun(
                command=command,
                exit_code=127,
                duration_seconds=0.0,
                output=f"could not start {argv[0]!r} (for {given[0]!r}): {exc.strerror}",
            )
        timed_out = False
        try:
            raw, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raw, _ = process.communicate()
        duration = time.monotonic() - started
        text = raw.decode(errors="replace")
        truncated = len(text) > output_cap
        if truncated:
            # Keep the head (what ran) and the tail (the summary); the middle is rarely the point.
            head = text[: output_cap // 4]
            tail = text[-(output_cap - len(head)) :]
            text = f"{head}\n... [{len(raw) - output_cap} bytes of output cut] ...\n{tail}"
        if timed_out:
            text += f"\n[devops-healer: killed after {timeout:.0f}s]"
        return TestRun(
            command=command,
            exit_code=None if timed_out else process.returncode,
            timed_out=timed_out,
            duration_seconds=round(duration, 3),
            output=text,
            truncated=truncated,
            failed_tests=failed_tests(text),
        )


def verdict(before: TestRun | None, after: TestRun | None) -> Verdict:
    """green: the suite passes after. improved: it still fails, but only tests that failed before,
    and fewer of them (a repository with several faults, of which the change fixes one).
    unchanged: exactly the tests that failed before still fail, nothing new (what a follow-up that
    adds a test or answers a review comment on an already improved branch looks like)."""
    if after is None:
        return "not_run"
    if after.timed_out:
        return "timed_out"
    if after.passed:
        return "green"
    if before is not None and before.failed_tests and after.failed_tests:
        still, was = set(after.failed_tests), set(before.failed_tests)
        if still < was:
            return "improved"
        if still == was:
            return "unchanged"
    return "red"


def verification(
    before: TestRun | None, after: TestRun | None, *, follow_up: bool = False, not_run_reason: str | None = None
) -> Verification:
    return Verification(
        before=before,
        after=after,
        verdict=verdict(before, after),
        follow_up=follow_up,
        not_run_reason=not_run_reason,
    )
