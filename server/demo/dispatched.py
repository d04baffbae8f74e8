"""The demo's autonomous step: devops-healer starts an agent CLI itself and the run fixes one more incident.

The agent is the stand-in (server/demo/standin_agent.py): a script, not a model, started exactly as
`claude -p` would be, with the prompt and an MCP config naming the server's /mcp and a run token.
The demo runs no MCP client of its own for this incident: it posts the report, asks for a run
(`POST /incidents/{id}/dispatch`) and waits for the run's outcome.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import BaseModel

STANDIN = Path(__file__).with_name("standin_agent.py")
#: What monitoring reports: an order id with a quote breaks the SQL the service builds by hand.
REPORT = {
    "service": "orders",
    "severity": "high",
    "title": "orders: an order id with a quote breaks the orders query",
    "error": "sqlite3.OperationalError: near \"s\": syntax error in SELECT * FROM orders WHERE id = 'o'shea-1'",
    "affected_file": "orders/service.py",
}
#: The stand-in's one edit: quote the id as SQL quotes it (a model would find this; the script is told).
EDIT = (
    "orders/service.py",
    "rows = run_query(self.pool, f\"SELECT * FROM orders WHERE id = '{order_id}'\")",
    'quoted = order_id.replace("\'", "\'\'")\n'
    "        rows = run_query(self.pool, f\"SELECT * FROM orders WHERE id = '{quoted}'\")",
)


class DispatchedRun(BaseModel):
    incident_id: str
    run_id: int
    agent: str
    status: str
    pr_number: int | None = None
    seconds: float = 0.0
    tests: str | None = None
    transcript_lines: int = 0


def agent_config() -> str:
    """The [agents.standin] and [dispatch] tables of the demo's healer.toml (auto dispatch off: the scripted
    agent works the queue first; this run is asked for by name)."""
    # Braces in the edit are literal: doubled, as in every command's argument that is not a placeholder.
    edit = [part.replace("{", "{{").replace("}", "}}") for part in EDIT]
    command = [sys.executable, str(STANDIN), "-p", "{prompt}", "--mcp-config", "{mcp_config}", "--edit", *edit]
    return (
        "\n# An agent CLI devops-healer starts itself (the demo's stand-in; see docs/agents.md for real ones).\n"
        "[agents.standin]\n"
        f"command = {json.dumps(command)}\n"
        "timeout_minutes = 5\n"
        "\n[dispatch]\n"
        'agent = "standin"\n'
        "auto = false\n"
    )


def dispatch_one(url: str, say: Callable[[str], None], timeout: float = 300) -> DispatchedRun:
    started = time.monotonic()
    answer = httpx.post(f"{url}/incidents", json=REPORT, timeout=10)
    if answer.status_code != 202:
        raise RuntimeError(f"the report was refused ({answer.status_code}): {answer.text[:500]}")
    iid = str(answer.json()["id"])
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/incidents/{iid}", timeout=5).json()["status"] in ("received", "triaged"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{iid} was not triaged within 30 s")
        time.sleep(0.1)
    say(f"monitoring reported {iid}: {REPORT['title']}")
    run = httpx.post(f"{url}/incidents/{iid}/dispatch", json={"agent": "standin"}, timeout=10).json()
    say(f'$ curl -X POST {url}/incidents/{iid}/dispatch -d \'{{"agent": "standin"}}\'  -> run {run["id"]} queued')
    deadline = time.monotonic() + timeout
    while run["status"] in ("queued", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run['id']} did not end within {timeout:.0f} s")
        time.sleep(0.3)
        run = httpx.get(f"{url}/runs/{run['id']}", timeout=10).json()
    incident = httpx.get(f"{url}/incidents/{iid}", timeout=5).json()
    pr = incident.get("pull_request") or {}
    transcript = str(run.get("transcript") or "")
    tools = [json.loads(x)["tool"] for x in transcript.splitlines() if x.startswith('{"type": "tool_result"')]
    say(f"run {run['id']} ({run['agent']}) called {' -> '.join(tools)} and ended {run['status']}")
    return DispatchedRun(
        incident_id=iid,
        run_id=int(run["id"]),
        agent=str(run["agent"]),
        status=str(run["status"]),
        pr_number=pr.get("number"),
        seconds=time.monotonic() - started,
        transcript_lines=len(transcript.splitlines()),
    )
