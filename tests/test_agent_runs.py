"""The agent runner end to end: a real server starts the stand-in agent CLI, which fixes the incident over MCP.

No MCP client is run by these tests: the only client is the agent the server started.
"""

from __future__ import annotations

from pathlib import Path

from tests.agent_harness import ADD_EDIT, agent_server, agent_table, incident, report, timeline, wait_for_run_end


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
