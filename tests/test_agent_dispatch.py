"""Dispatch under load and across review rounds, against a real server that starts the stand-in agent CLI."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.agent_harness import (
    ADD_EDIT,
    AUTH,
    HTTP,
    MUL_EDIT,
    agent_server,
    agent_table,
    incident,
    report,
    runs_of,
    timeline,
    wait_for_run_end,
)
from tests.conftest import HEALER, git

STORM = 200


def _most_at_once(runs: list[dict[str, object]]) -> int:
    spans = [
        (datetime.fromisoformat(str(r["started_at"])), datetime.fromisoformat(str(r["ended_at"])))
        for r in runs
        if r["started_at"] and r["ended_at"]
    ]
    return max((sum(1 for s, e in spans if s <= start < e) for start, _ in spans), default=0)


def test_a_storm_of_routed_incidents_stays_inside_the_budgets(tmp_path: Path) -> None:
    agents = agent_table("quick", ["--mode", "quit"], max_concurrent=2)
    dispatch = 'agent = "quick"\nauto = true\nmax_runs_per_hour = 6\n'
    with agent_server(tmp_path, agents, dispatch) as server:
        url = server.url
        ids = [report(url, fingerprint=f"storm-{n}") for n in range(STORM)]
        assert len(set(ids)) == STORM
        # Wait until the hour's budget is spent and every incident has a run asked for.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            listed = HTTP.get(f"{url}/metrics", headers=AUTH).text
            ended = sum(
                float(line.rsplit(" ", 1)[1])
                for line in listed.splitlines()
                if line.startswith("healer_agent_runs_ended_total{")
            )
            if ended >= 6:
                break
            time.sleep(0.5)
        time.sleep(2)  # a few more dispatch rounds: none may start another run
        all_runs = [run for iid in ids for run in runs_of(url, iid)]
        started = [run for run in all_runs if run["started_at"]]
        assert len(started) == 6, [r["status"] for r in started]
        assert _most_at_once(started) <= 2
        held_back = [iid for iid in ids if not any(r["started_at"] for r in runs_of(url, iid))]
        assert len(held_back) == STORM - 6
        for iid in held_back:
            whys = [e["detail"]["why"] for e in timeline(url, iid) if e["event"] == "agent_run_held"]
            assert whys, f"{iid} was held back without saying why"
            assert any(w.startswith(("max_runs_per_hour", "max_concurrent")) for w in whys), whys
        assert any(
            e["detail"]["why"].startswith("max_runs_per_hour")
            for e in timeline(url, held_back[-1])
            if e["event"] == "agent_run_held"
        )
        metrics = HTTP.get(f"{url}/metrics", headers=AUTH).text
        assert 'healer_agent_runs_started_total{agent="quick"} 6.0' in metrics
        assert 'healer_agent_runs_ended_total{agent="quick",outcome="no_result"} 6.0' in metrics


def test_changes_requested_on_a_runs_pull_request_start_a_follow_up_that_pushes_to_it(tmp_path: Path) -> None:
    # Over the stdio relay this time: the agent's MCP config runs `healer mcp --connect <url>`.
    agents = agent_table("standin", [*ADD_EDIT, *MUL_EDIT], mcp_transport="stdio", timeout_minutes=3)
    dispatch = 'agent = "standin"\nauto = true\nreview_rounds = 1\n'
    with agent_server(tmp_path, agents, dispatch) as server:
        url = server.url
        iid = report(url)
        first = wait_for_run_end(url, iid)
        assert first["status"] == "fixed", first
        number = incident(url, iid)["pull_request"]["number"]
        review = subprocess.run(
            [HEALER, "pr", "review", str(number), "--request-changes", "-m", "mul is off by one too; fix it here"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert review.returncode == 0, review.stderr
        second = wait_for_run_end(url, iid, count=2)
        assert (second["status"], second["kind"], second["trigger"]) == ("fixed", "follow_up", "review"), second
        assert '"tool": "get_fix_feedback"' in second["transcript"]
        after = incident(url, iid)
        assert after["pull_request"]["number"] == number  # the same pull request, one more commit
        assert after["status"] == "pr_open"
        forge = Path(server.env["HEALER_HOME"]) / "forge" / "calc.git"
        branch = after["pull_request"]["branch"]
        log = git(forge, "log", "--format=%s", f"main..{branch}")
        assert len(log.splitlines()) == 2, log
        calc = git(forge, "show", f"{branch}:app/calc.py")
        assert "return a + b" in calc and "return a * b\n" in calc
