"""After a crash: a fix whose process was SIGKILLed is released at the next start and its attempt
directory removed; a fix held by a live process, or by a process on another host, is left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from fixer import owner
from server.config import load_config
from server.fixing.recovery import recover
from server.models import Status
from server.store import Store
from server.store.schema import incidents
from tests.conftest import healer_env, start_server
from tests.fixer_repo import make_calc_repo
from tests.test_triage_flow import report

SLOW_TESTS = f"{sys.executable} -c 'import time; time.sleep(300)'"
CHILD = """
import json, sys
from pathlib import Path
from fixer.models import Change, Edit
from server.config import load_config
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.common.settings import Settings
from server.store import Store
args = json.loads(sys.argv[1])
home = Path(args["home"])
store = Store.open(args["db"])
change = Change(edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b")])
submission = FixSubmission(change=change, summary="add adds", explanation="add subtracted its arguments")
FixService(store, load_config(home / "healer.toml"), Settings(home=home)).submit(args["id"], submission, agent="cline")
"""


@pytest.fixture
def opened(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url)
    yield store
    store.close()


def _setup(store: Store, tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    home.mkdir()
    source = make_calc_repo(tmp_path / "calc")
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\ntest_command = "{SLOW_TESTS}"\nservices = ["calc"]\n'
    )
    incident_id = report(store, load_config(home / "healer.toml"))
    store.claim(incident_id, agent="cline")
    return home, incident_id


def _start_fix(db_url: str, home: Path, incident_id: str) -> subprocess.Popen[bytes]:
    """A real process running the fix, in its own process group (so its test run dies with it)."""
    args = json.dumps({"db": db_url, "home": str(home), "id": incident_id})
    return subprocess.Popen([sys.executable, "-c", CHILD, args], start_new_session=True, stderr=subprocess.PIPE)


def _wait_mid_run(store: Store, home: Path, incident_id: str, child: subprocess.Popen[bytes]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        attempts = list((home / "workspaces").glob("attempt-*"))
        if store.get(incident_id).status == Status.fixing and attempts and (attempts[0] / "work").is_dir():
            return attempts[0]
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        time.sleep(0.1)
    raise AssertionError("the fix never reached its test run")


def test_a_fix_killed_mid_run_is_released_at_the_next_start(tmp_path: Path, db_url: str, opened: Store) -> None:
    store = opened
    home, incident_id = _setup(store, tmp_path)
    child = _start_fix(db_url, home, incident_id)
    try:
        attempt = _wait_mid_run(store, home, incident_id, child)
        # While the process runs, a start elsewhere on this host leaves its fix and its worktree alone.
        untouched = recover(store, home / "workspaces")
        assert untouched.released == [] and untouched.removed == []
        assert store.get(incident_id).status == Status.fixing and attempt.is_dir()
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
        if child.stderr is not None:
            child.stderr.close()
    recovered = recover(store, home / "workspaces")  # what `healer serve` does when it starts
    assert recovered.released == [incident_id]
    assert not attempt.exists() and not list((home / "workspaces").glob("attempt-*"))
    cache = next((home / "workspaces").glob("*/cache.git"))
    listed = subprocess.run(["git", "worktree", "list"], cwd=cache, capture_output=True, text=True, check=True)
    assert str(attempt) not in listed.stdout  # the cache forgot the worktree too
    incident = store.get(incident_id)
    assert incident.status == Status.pending and incident.claim is None
    last = store.timeline(incident_id)[-1]
    assert last.event == "released" and last.actor == "system" and "is gone" in last.detail["why"]
    assert recover(store, home / "workspaces").released == []  # once


@pytest.mark.parametrize(
    "holder",
    [
        lambda: f"db-2.internal|{os.getpid()}|1",  # another host: its lease decides, not this one
        lambda: owner.identity(),  # this very process, alive
    ],
)
def test_a_fix_held_by_a_live_or_remote_process_is_left_alone(tmp_path: Path, opened: Store, holder: object) -> None:
    store = opened
    home, incident_id = _setup(store, tmp_path)
    with store.write() as connection:
        connection.execute(
            update(incidents)
            .where(incidents.c.claim_holder == "cline")
            .values(status=Status.fixing.value, fix_owner=holder())  # type: ignore[operator]
        )
    assert recover(store, home / "workspaces").released == []
    assert store.get(incident_id).status == Status.fixing


def test_a_reused_pid_is_not_the_process_that_held_the_fix() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _, _, start = owner.identity().split("|")
        # The child's pid, with a start time that is not the child's: the holder was an earlier process.
        assert owner.is_gone(f"{owner.host()}|{child.pid}|{int(start) - 1}")
        assert owner.is_gone(f"{owner.host()}|{child.pid}|0") is False  # a start time unknown: assume alive
    finally:
        child.kill()
        child.wait()
    assert owner.is_gone(f"{owner.host()}|{child.pid}|0")  # finished and reaped


def test_healer_serve_releases_at_start_what_a_killed_process_left(tmp_path: Path, db_url: str, opened: Store) -> None:
    home, incident_id = _setup(opened, tmp_path)
    child = _start_fix(db_url, home, incident_id)
    try:
        attempt = _wait_mid_run(opened, home, incident_id, child)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
        if child.stderr is not None:
            child.stderr.close()
    server = start_server(healer_env(home, db_url), tmp_path / "serve.log")
    try:
        incident = httpx.get(f"{server.url}/incidents/{incident_id}").json()
        assert incident["status"] == "pending" and incident["claim"] is None
        assert not attempt.exists()
    finally:
        server.stop()
