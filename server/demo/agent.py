"""The scripted demo agent: does over MCP what Cline would, with the three patches in place of a model.

It is clearly a script. It connects to `healer mcp` over stdio with the official MCP client, lists
pending incidents, reads one, claims it, reads the code around the failure, and submits the patch
it holds for that fault. Everything it talks to is the real system.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client._transport import TransportStreams
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, Implementation
from pydantic import BaseModel

from server.demo.scenarios import follow_up_diff, for_incident, unfenced

AGENT_NAME = "demo-agent (scripted)"


@asynccontextmanager
async def healer_mcp(command: str, env: dict[str, str]) -> AsyncIterator[TransportStreams]:
    """`healer mcp` as a child process; its log lines go to agent.log beside the home, not into the demo's output."""
    with (Path(env["HEALER_HOME"]).parent / "agent.log").open("a") as log:
        async with stdio_client(StdioServerParameters(command=command, args=["mcp"], env=env), errlog=log) as streams:
            yield streams


class AgentError(RuntimeError):
    pass


class Attempt(BaseModel):
    incident_id: str
    title: str
    severity: str
    scenario: str | None
    status: str
    branch: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    verification: str | None = None
    verdict: str | None = None
    tests: str | None = None
    seconds: float = 0.0
    error: str | None = None


def _data(result: CallToolResult, tool: str) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise AgentError(f"{tool} failed: {text}")
    data: dict[str, Any] = result.structured_content
    return data


async def run_agent(command: str, env: dict[str, str], say: Callable[[str], None]) -> list[Attempt]:
    """Work through the queue until it is empty; one Attempt per incident handled."""
    attempts: list[Attempt] = []
    info = Implementation(name="scripted-demo-agent", version="1.0")
    async with Client(healer_mcp(command, env), client_info=info, read_timeout_seconds=600) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        say(f"connected to healer mcp over stdio; tools: {', '.join(tools)}")
        seen: set[str] = set()
        while True:
            pending = _data(await client.call_tool("get_pending_incidents", {"limit": 10}), "get_pending_incidents")
            todo = [item for item in pending["incidents"] if item["id"] not in seen]
            if not todo:
                say("get_pending_incidents: nothing left to fix")
                return attempts
            item = todo[0]
            seen.add(item["id"])
            try:
                attempts.append(await _fix_one(client, item, say))
            except AgentError as exc:
                say(f"  {exc}")
                attempts.append(
                    Attempt(
                        incident_id=item["id"],
                        title=unfenced(item["title"]),
                        severity=item["severity"],
                        scenario=None,
                        status="failed",
                        error=str(exc),
                    )
                )


async def _fix_one(client: Client, item: dict[str, Any], say: Callable[[str], None]) -> Attempt:
    started = time.monotonic()
    iid = item["id"]
    say(f"get_pending_incidents -> {iid} [{item['severity']}] {unfenced(item['title'])}")
    details = _data(await client.call_tool("get_incident_details", {"incident_id": iid}), "get_incident_details")
    reported = details["reported"]
    scenario = for_incident(item["title"], reported.get("affected_files", []))
    attempt = Attempt(
        incident_id=iid,
        title=unfenced(item["title"]),
        severity=item["severity"],
        scenario=scenario.key if scenario else None,
        status=item["status"],
    )
    frames = [f["repo_path"] for f in reported.get("stack_frames", []) if f.get("repo_path")]
    say(f"  get_incident_details: repo={details['repo']}, frames in repo: {', '.join(frames) or 'none'}")
    if scenario is None:
        say("  the demo agent has no patch for this one; leaving it for a person")
        attempt.status = details["status"]
        return attempt
    claim = _data(await client.call_tool("claim_incident", {"incident_id": iid}), "claim_incident")
    say(f"  claim_incident: held by {claim['agent']} until {claim['lease_expires_at']}")
    context = _data(
        await client.call_tool("get_repository_context", {"repo": details["repo"], "incident_id": iid}),
        "get_repository_context",
    )
    say(
        f"  get_repository_context: {context['file_path']} lines {context['start_line']}-{context['end_line']}, "
        f"tests: {', '.join(context['related_tests']) or 'none'}"
    )

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            say(f"    submit_fix: {message} ({progress:.0f}%)")

    try:
        outcome = _data(
            await client.call_tool(
                "submit_fix",
                {
                    "incident_id": iid,
                    "change": {"diff": scenario.diff()},
                    "title": scenario.summary,
                    "explanation": scenario.explanation,
                },
                progress_callback=progress,
            ),
            "submit_fix",
        )
    except AgentError as exc:
        attempt.error = str(exc)
        attempt.status = "failed"
        say(f"  {exc}")
        return attempt
    attempt.status = outcome["status"]
    attempt.branch = outcome["branch"]
    attempt.pr_number = outcome["pull_request_number"]
    attempt.pr_url = outcome["pull_request_url"]
    attempt.verification = outcome["verification"]
    attempt.verdict = outcome["verdict"]
    attempt.tests = f"{outcome['tests_before']} -> {outcome['tests_after']}"
    attempt.seconds = round(time.monotonic() - started, 1)
    say(f"  submit_fix: PR #{attempt.pr_number} on {attempt.branch}; {attempt.verification}")
    return attempt


async def follow_up(command: str, env: dict[str, str], incident_id: str, say: Callable[[str], None]) -> Attempt:
    """A review round: read the reviewers' findings, then push a follow-up commit to the same pull request."""
    info = Implementation(name="scripted-demo-agent", version="1.0")
    started = time.monotonic()
    async with Client(healer_mcp(command, env), client_info=info, read_timeout_seconds=600) as client:
        pending = _data(await client.call_tool("get_pending_incidents", {"limit": 10}), "get_pending_incidents")
        item = next((i for i in pending["incidents"] if i["id"] == incident_id), None)
        if item is None:
            raise AgentError(f"{incident_id} is not in the queue after the review asked for changes")
        say(f"get_pending_incidents -> {incident_id} is back as follow-up work ({item['status']})")
        feedback = _data(await client.call_tool("get_fix_feedback", {"incident_id": incident_id}), "get_fix_feedback")
        for verdict in feedback["verdicts"]:
            say(f"  get_fix_feedback: {verdict['reviewer']} {verdict['state'].replace('_', ' ')}")
        for finding in feedback["findings"]:
            say(f"  get_fix_feedback: {finding['author']} on {finding['file']}:{finding['line']}: {finding['body']}")
        _data(await client.call_tool("claim_incident", {"incident_id": incident_id}), "claim_incident")
        context = _data(
            await client.call_tool(
                "get_repository_context",
                {"repo": "orders", "incident_id": incident_id, "file_path": "tests/test_cache.py"},
            ),
            "get_repository_context",
        )
        say(f"  get_repository_context: {context['file_path']} on the PR branch {context['branch']}")
        addresses = [f"{f['author']} on {f['file']}:{f['line']}: {f['body']}" for f in feedback["findings"]]
        outcome = _data(
            await client.call_tool(
                "submit_fix",
                {
                    "incident_id": incident_id,
                    "change": {"diff": follow_up_diff()},
                    "title": "test that the least recently used order is evicted",
                    "explanation": "The review asked for a test that pins which order is evicted: the cache must "
                    "drop the least recently used one, so a re-read order survives and the oldest goes.",
                    "addresses": addresses,
                },
            ),
            "submit_fix",
        )
    pushed = f"pushed {outcome['commit'][:12]} to PR #{outcome['pull_request_number']}"
    say(f"  submit_fix: {pushed}; {outcome['verification']}")
    return Attempt(
        incident_id=incident_id,
        title=unfenced(item["title"]),
        severity=item["severity"],
        scenario="leak",
        status=outcome["status"],
        branch=outcome["branch"],
        pr_number=outcome["pull_request_number"],
        verification=outcome["verification"],
        verdict=outcome["verdict"],
        seconds=round(time.monotonic() - started, 1),
    )
