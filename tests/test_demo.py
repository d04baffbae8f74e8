"""`healer demo` end to end: what `make demo` runs (without the virtualenv bootstrap)."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from server.demo.scenarios import SCENARIOS
from tests.conftest import HEALER, healer_env


def printed_command(line: str, home: Path) -> list[str]:
    """A command the demo printed (`[env -u ...] HEALER_HOME=... healer ...`), as the argv that runs it."""
    words = shlex.split(line.split("  #", 1)[0])
    assert f"HEALER_HOME={home}" in words
    return ["env", *words]


@pytest.mark.slow
def test_demo_opens_three_verified_pull_requests(tmp_path: Path) -> None:
    # The demo makes its own HEALER_HOME (this one must stay unused); TMPDIR puts the kept workspace in tmp_path.
    env = healer_env(tmp_path, TMPDIR=str(tmp_path))
    done = subprocess.run([HEALER, "demo", "--keep"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    out = done.stdout
    # The demo's output is its own: the agent's `healer mcp` logs go to a file in the workspace.
    assert " INFO server." not in done.stderr and " INFO server." not in out, done.stderr[-2000:]
    assert "1 duplicate (counted as occurrence 2 of" in out
    assert re.search(r"low\s+-> monitoring", out)
    rows = [line for line in out.splitlines() if re.match(r"INC-\d{8}-\d{4}\s", line)]
    opened = [row for row in rows if "pr_open" in row and "(scripted)" in row]
    # One more incident is fixed by a run devops-healer started itself; the table names the run.
    assert re.search(r"pr_open\s+healer/\S+\s+#\d\s.*\s+run \d+ \(standin\)$", out, re.MULTILINE), out[-3000:]
    assert re.search(r"run \d+ \(standin\) called get_incident_details -> get_repository_context -> submit_fix", out)
    assert len(opened) == 3 and all(re.search(r"#\d\s.*3 failing -> 2 failing\s+improved", row) for row in opened)
    assert "7. what a reviewer sees: healer pr show 1" in out
    assert "## Root cause" in out
    # One incident goes through a review round and comes out verified, with its postmortem printed.
    assert "8. a review round on PR #" in out
    assert re.search(r"get_fix_feedback: ana on orders/cache.py:24: Please add a test", out)
    assert re.search(r"submit_fix: pushed [0-9a-f]{12} to PR #\d; unchanged: tests 2 failing before", out)
    assert re.search(r"INC-\d{8}-\d{4} verified", out)
    assert "# Postmortem: INC-" in out and "Rounds with changes requested: 1" in out
    assert not list(tmp_path.glob("*.db"))
    (workspace,) = tmp_path.glob("healer-demo-*")
    assert f"workspace kept at {workspace}" in out

    # Step 6's commands work after the demo: `healer pr show N` for each PR, as printed.
    shows = [line.strip() for line in out.splitlines() if re.search(r" pr show \d+\s+# INC-", line)]
    assert len(shows) == 3
    for line in shows:
        argv = printed_command(line, workspace / "home")
        shown = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        scenario = next(s for s in SCENARIOS if s.title in line)
        text = shown.stdout
        # Merged or open, the PR shows the change it made.
        assert f"diff --git a/{scenario.affected_file} b/{scenario.affected_file}" in text, text[:3000]
        # The test output after the change: this scenario's own test passes; the other two faults
        # are still seeded, so two tests fail (the verdict is "improved", not "green").
        before, after = text.split("Test output after", 1)
        assert f"FAILED {scenario.failing_test}" not in after and "2 failed" in after, after[-2000:]
        if scenario.key != "leak":  # the leak PR's body shows its review round's run, on the fixed branch
            assert f"FAILED {scenario.failing_test}" in before and f"now passing: {scenario.failing_test}" in text

    # The dashboard and the curl lines, against the kept workspace served again as printed.
    (serve_line,) = [line for line in out.splitlines() if line.startswith("serve it again")]
    argv = printed_command(serve_line.split(": ", 1)[1].removesuffix(" &"), workspace / "home")
    url = re.search(r"dashboard: (http://\S+)/", out)
    assert url is not None
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url[1]}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        assert httpx.get(f"{url[1]}/", timeout=10).status_code == 200
        curls = [line.split("curl -s ", 1)[1] for line in out.splitlines() if "curl -s " in line]
        assert [re.sub(r"INC-[\d-]+", "INC-N", c) for c in curls] == [
            f"{url[1]}/incidents",
            f"{url[1]}/incidents/INC-N/timeline",
        ]
        for address in curls:
            assert httpx.get(address, timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(15)


@pytest.mark.slow
def test_demo_runs_twice_in_a_row(tmp_path: Path) -> None:
    for _ in range(2):
        done = subprocess.run([HEALER, "demo"], env=healer_env(tmp_path), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:]


def _alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum",
    [
        signal.SIGINT,  # Ctrl-C
        signal.SIGTERM,  # kill, a CI job's timeout
    ],
    ids=lambda signum: signal.Signals(signum).name,
)
def test_an_interrupted_demo_stops_its_server(tmp_path: Path, signum: int) -> None:
    env = healer_env(tmp_path, TMPDIR=str(tmp_path))
    demo = subprocess.Popen([HEALER, "demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    stdout = demo.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("2. healer serve running") for line in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        found = re.search(r"\(pid (\d+),", seen[-1])
        assert found is not None, seen
        server_pid = int(found[1])
        assert _alive(server_pid)
        os.kill(demo.pid, signum)  # the demo alone, not its process group: the demo must stop the server
        assert demo.wait(30) == 128 + signum
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(10)
    stdout.close()
    while not lines.empty():
        seen.append(lines.get())
    assert f"interrupted ({signal.Signals(signum).name}); stopping healer serve\n" in seen
    assert not _alive(server_pid)
    assert not list(tmp_path.glob("healer-demo-*"))  # the workspace is removed too


def test_step_six_says_the_workspace_goes_unless_kept(tmp_path: Path) -> None:
    from server.demo.runner import look_further

    removed = look_further(tmp_path, "http://127.0.0.1:1", [], keep=False)[0]
    assert "while the demo runs" not in removed and "`healer demo --keep`" in removed
    assert "removed when the demo ends" in removed
