"""The agent runner end to end: a real server starts the stand-in agent CLI, which fixes the incident over MCP.

No MCP client is run by these tests: the only client is the agent the server started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fixer.sandbox import bwrap_path
from tests.agent_harness import (
    ADD_EDIT,
    API_TOKEN,
    AUTH,
    HTTP,
    agent_server,
    agent_table,
    incident,
    report,
    runs_of,
    timeline,
    wait_for_run_end,
)
from tests.conftest import HEALER, wait_until_triaged


def test_an_incident_posted_with_auto_dispatch_becomes_a_pull_request_by_a_run(tmp_path: Path) -> None:
    agents = agent_table("standin", ADD_EDIT, timeout_minutes=2)
    with agent_server(tmp_path, agents, 'agent = "standin"\nauto = true\n') as server:
        iid = report(server.url)
        run = wait_for_run_end(server.url, iid)
        assert run["status"] == "fixed", run
        assert run["agent"] == "standin" and run["trigger"] == "auto" and run["exit_code"] == 0
        assert '"tool": "submit_fix"' in run["transcript"]
        assert '"tool": "get_repository_context"' in run["transcript"]
        assert run["duration_seconds"] > 0
        found = incident(server.url, iid)
        assert found["status"] == "pr_open"
        assert found["pull_request"]["number"] >= 1
        events = [(e["actor"], e["event"]) for e in timeline(server.url, iid)]
        assert ("system:runner", "agent_run_started") in events
        assert (f"agent:run:{run['id']}", "pr_opened") in events
        assert ("system:runner", "agent_run_ended") in events


def _dispatch(url: str, iid: str, agent: str) -> dict[str, object]:
    answer = HTTP.post(f"{url}/incidents/{iid}/dispatch", json={"agent": agent}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    run: dict[str, object] = answer.json()
    return run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but the process table.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def test_misbehaving_agents_are_bounded_and_recorded(tmp_path: Path) -> None:
    pids = tmp_path / "hang-pids"
    after = tmp_path / "after-the-run"
    agents = "\n".join(
        [
            agent_table("hang", ["--mode", "hang", "--out", str(pids)], timeout_minutes=0.08, sandbox="off"),
            agent_table("quit", ["--mode", "quit"]),
            agent_table("crash", ["--mode", "crash"]),
            agent_table("flood", ["--mode", "flood"], transcript_cap_bytes=100_000),
            agent_table("linger", ["--mode", "linger", "--out", str(after)], sandbox="off"),
            agent_table(
                "env",
                ["--mode", "env", "--probe", str(tmp_path / "home"), "--probe", str(tmp_path / "home" / "healer.db")],
                env={"STANDIN_MODEL_KEY": "env:STANDIN_MODEL_KEY"},
            ),
            agent_table("spend", ["--mode", "spend"], max_cost_usd=1.0),
        ]
    )
    model_key = "sk-standin-model-key-0123456789"
    with agent_server(tmp_path, agents, extra_env={"STANDIN_MODEL_KEY": model_key}) as server:
        url = server.url
        ids = {
            name: report(url, error=f"add returned -1 for 2+3 ({name})")
            for name in ("hang", "quit", "crash", "flood", "linger", "env", "spend")
        }
        for name, iid in ids.items():
            wait_until_triaged(url, iid, headers=AUTH)
            _dispatch(url, iid, name)
        ended = {name: wait_for_run_end(url, iid) for name, iid in ids.items()}

        # Hangs: killed at the timeout, its whole process group with it; the attempt is counted.
        hang = ended["hang"]
        assert hang["status"] == "timed_out" and "timeout" in hang["note"]
        leader, child = (int(p) for p in pids.read_text().split())
        assert not _alive(leader) and not _alive(child)
        assert incident(url, ids["hang"])["attempts"] == 1
        assert incident(url, ids["hang"])["claim"] is None

        assert ended["quit"]["status"] == "no_result" and ended["quit"]["exit_code"] == 0
        assert ended["crash"]["status"] == "crashed" and ended["crash"]["exit_code"] == 3
        for name in ("quit", "crash"):
            assert incident(url, ids[name])["attempts"] == 1

        # 50 MB of output: all counted, the head and tail kept within the cap.
        flood = ended["flood"]
        assert flood["output_bytes"] >= 50 * 1024 * 1024
        assert len(flood["transcript"]) < 110_000 and "bytes of output omitted" in flood["transcript"]

        # Its token stops working when the run ends, even for a process that outlived it.
        deadline = time.monotonic() + 30
        while not after.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert after.read_text().startswith("refused"), after.read_text()
        assert "has ended" in after.read_text() or "no longer valid" in after.read_text()

        # It reports its cost as it goes (Claude Code's stream-json); past max_cost_usd it is stopped.
        spend = ended["spend"]
        assert spend["status"] == "cancelled" and "passed max_cost_usd" in spend["note"]
        assert spend["cost_usd"] == 5.0

        # Its environment: PATH, HOME (the run's scratch folder), locale, and what [agents.env] lists.
        transcript = ended["env"]["transcript"]
        line = next(json.loads(x) for x in transcript.splitlines() if '"environment"' in x)
        env = line["env"]
        listed = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "STANDIN_MODEL_KEY"}
        # The runner's own two, and what the sandbox sets inside (its private /tmp, the working folder).
        assert set(env) <= listed | {"HEALER_RUN_TOKEN", "HEALER_MCP_URL", "TMPDIR", "PWD"}
        assert env["HEALER_RUN_TOKEN"].startswith("[REDACTED") and env["HEALER_MCP_URL"].endswith("/mcp")
        assert "healer-run-" in env["HOME"]
        assert API_TOKEN not in transcript and model_key not in transcript
        assert env["STANDIN_MODEL_KEY"].startswith("[REDACTED")
        if bwrap_path() is not None:  # sandbox = auto: HEALER_HOME and the database are out of its sight
            assert line["sees"] == {str(tmp_path / "home"): False, str(tmp_path / "home" / "healer.db"): False}
        else:
            sys.stderr.write("bubblewrap is unavailable here: the agent ran without the sandbox\n")


def test_a_run_token_works_on_its_own_incident_only(tmp_path: Path) -> None:
    other_file = tmp_path / "other-incident"
    # Off the sandbox: the test hands it the other incident's id through a file the sandbox would hide.
    agents = agent_table("trespass", ["--mode", "trespass", "--other", f"@{other_file}"], sandbox="off")
    with agent_server(tmp_path, agents) as server:
        url = server.url
        other = report(url, error="mul returned 7 for 2*3")
        other_file.write_text(other)
        own = report(url)
        wait_until_triaged(url, own, headers=AUTH)
        before = incident(url, other)
        _dispatch(url, own, "trespass")
        run = wait_for_run_end(url, own)
        results = [json.loads(x) for x in run["transcript"].splitlines() if x.startswith("{")]
        calls = [(r.get("tool") or r.get("route"), r.get("is_error", r.get("status"))) for r in results[1:]]
        assert calls == [
            ("get_incident_details", False),  # its own incident
            ("get_incident_details", True),  # another one: refused
            ("claim_incident", True),
            ("get_pending_incidents", True),
            ("release_incident", True),
            ("approve", 403),  # the REST API: for people
        ]
        refusals = [r["content"] for r in results if r.get("is_error")]
        assert all(own in text for text in refusals), refusals
        assert f"{other} is outside its scope" in refusals[0]
        after = incident(url, other)
        assert (after["status"], after["claim"], after["updated_at"]) == (
            before["status"],
            None,
            before["updated_at"],
        )
        assert run["status"] == "no_result"


def _healer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=60)


def _wait_running(url: str, iid: str, count: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = runs_of(url, iid)
        if len(found) >= count and found[count - 1]["status"] == "running":
            return found[count - 1]
        time.sleep(0.2)
    raise AssertionError(f"run #{count} of {iid} never ran: {runs_of(url, iid)}")


def test_runs_from_the_command_line_cancel_and_a_server_stop(tmp_path: Path) -> None:
    with agent_server(tmp_path, agent_table("hang", ["--mode", "hang"], timeout_minutes=10)) as server:
        url, env = server.url, server.env
        iid = report(url)
        wait_until_triaged(url, iid, headers=AUTH)
        queued = _healer(env, "agents", "dispatch", iid)
        assert queued.returncode == 0, queued.stderr
        assert "run 1 of hang queued" in queued.stdout
        again = _healer(env, "agents", "dispatch", iid)
        assert again.returncode == 2 and "already has run 1" in again.stderr

        _wait_running(url, iid, 1)
        cancelled = _healer(env, "agents", "cancel", "1")
        assert cancelled.returncode == 0, cancelled.stderr
        first = wait_for_run_end(url, iid)
        assert first["status"] == "cancelled" and "cancelled by a person" in first["note"]
        assert incident(url, iid)["claim"] is None

        # A run the server was looking after when it stopped ends crashed; its claim goes back.
        HTTP.post(f"{url}/incidents/{iid}/dispatch", json={}, headers=AUTH)
        _wait_running(url, iid, 2)
        server.stop()
        listed = _healer(env, "agents", "runs", iid)
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert [line.split()[3] for line in lines] == ["cancelled", "crashed"], lines
        shown = _healer(env, "agents", "show", "2")
        assert "the server running it stopped" in shown.stdout
        assert "--- transcript" in shown.stdout
        held = _healer(env, "dlq", "list")  # the incident is back in the queue, not lost or held
        assert iid not in held.stdout
