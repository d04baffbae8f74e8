"""Real processes: a REST server and `healer mcp` processes started by the official SDK client share one store."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import HEALER, ServerProcess, healer_env, wait_until_triaged
from tests.mcp_client import error_text, stdio_session, structured

PY_TRACE = """Traceback (most recent call last):
  File "/srv/payments/app/api.py", line 5, in handler
    return connect()
  File "/srv/payments/app/db.py", line 41, in connect
    raise RuntimeError('pool exhausted')
RuntimeError: pool exhausted"""


def post(server: ServerProcess, **body: object) -> dict[str, object]:
    """POST an incident and wait until the server has triaged it into the agents' queue."""
    answer = httpx.post(f"{server.url}/incidents", json=body, timeout=10)
    assert answer.status_code == 202, answer.text
    created: dict[str, object] = answer.json()
    assert wait_until_triaged(server.url, str(created["id"]))["status"] == "pending"
    return created


def test_agent_lists_reads_claims_and_reports_what_rest_posted(server: ServerProcess) -> None:
    created = post(server, service="payments", error="pool exhausted", severity="critical", stack_trace=PY_TRACE)
    iid = created["id"]

    async def agent() -> None:
        async with stdio_session(server.env, name="cline") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {
                "get_pending_incidents",
                "get_incident_details",
                "get_repository_context",
                "claim_incident",
                "report_fix_status",
            } <= names
            pending = structured(await client.call_tool("get_pending_incidents", {"limit": 5}))
            assert [i["id"] for i in pending["incidents"]] == [iid]
            details = structured(await client.call_tool("get_incident_details", {"incident_id": iid}))
            assert details["reported"]["notice"].startswith("UNTRUSTED DATA")
            assert details["reported"]["error"].startswith("<untrusted-incident-data>")
            assert [f["repo_path"] for f in details["reported"]["stack_frames"]] == ["app/api.py", "app/db.py"]
            claim = structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            assert (claim["status"], claim["agent"]) == ("claimed", "cline")
            context = structured(
                await client.call_tool("get_repository_context", {"repo": "payments", "incident_id": iid})
            )
            assert context["file_path"] == "app/db.py" and "pool exhausted" in context["content"]
            report = structured(
                await client.call_tool(
                    "report_fix_status", {"incident_id": iid, "status": "failed", "notes": "needs a pool resize"}
                )
            )
            assert (report["status"], report["attempts"]) == ("pending", 1)
            resource = await client.read_resource(f"incident://{iid}")
            assert json.loads(resource.contents[0].text)["id"] == iid  # type: ignore[union-attr]
            prompt = await client.get_prompt("fix_incident", {"incident_id": iid})
            assert "claim_incident" in str(prompt.messages[0].content)

    asyncio.run(agent())
    incident = httpx.get(f"{server.url}/incidents/{iid}").json()
    assert (incident["status"], incident["attempts"]) == ("pending", 1)
    events = [(e["actor"], e["event"]) for e in httpx.get(f"{server.url}/incidents/{iid}/timeline").json()]
    assert ("agent:cline", "claimed") in events and ("agent:cline", "fix_failed") in events


def test_tool_errors_say_what_to_do_next(server: ServerProcess) -> None:
    async def agent() -> None:
        async with stdio_session(server.env) as client:
            missing = error_text(await client.call_tool("claim_incident", {"incident_id": "INC-20260101-0999"}))
            assert "no incident" in missing and "get_pending_incidents" in missing
            outside = error_text(
                await client.call_tool("get_repository_context", {"repo": "payments", "file_path": "../../etc/passwd"})
            )
            assert "'..' would leave the repository" in outside
            unknown = error_text(await client.call_tool("get_repository_context", {"repo": "ledger"}))
            assert "configured repositories: payments" in unknown

    asyncio.run(agent())


def test_two_processes_claiming_at_once_get_one_winner(server: ServerProcess) -> None:
    ids = [post(server, service="payments", error=f"fault {n}", fingerprint=f"f{n}")["id"] for n in range(5)]

    async def race() -> list[tuple[bool, bool]]:
        async with stdio_session(server.env, name="agent-a") as a, stdio_session(server.env, name="agent-b") as b:
            outcomes = []
            for iid in ids:
                ra, rb = await asyncio.gather(
                    a.call_tool("claim_incident", {"incident_id": iid}),
                    b.call_tool("claim_incident", {"incident_id": iid}),
                )
                outcomes.append((not ra.is_error, not rb.is_error))
            return outcomes

    outcomes = asyncio.run(race())
    assert all(won_a != won_b for won_a, won_b in outcomes), outcomes
    holders = {httpx.get(f"{server.url}/incidents/{iid}").json()["claim"]["holder"] for iid in ids}
    assert holders <= {"agent-a", "agent-b"}


def test_read_only_offers_only_reading_tools(server: ServerProcess) -> None:
    async def agent() -> set[str]:
        async with stdio_session(server.env, "--read-only") as client:
            return {tool.name for tool in (await client.list_tools()).tools}

    assert asyncio.run(agent()) == {
        "get_pending_incidents",
        "get_incident_details",
        "get_repository_context",
        "get_fix_feedback",
    }


@pytest.mark.parametrize(
    ("args", "prompt_name"),
    [
        ((), "fix_incident"),  # claims, submits a fix
        (("--read-only",), "investigate_incident"),  # reads and reports the root cause only
    ],
)
def test_prompts_and_instructions_name_only_offered_tools(
    healer_home: Path, args: tuple[str, ...], prompt_name: str
) -> None:
    async def agent() -> tuple[set[str], set[str], str, str]:
        async with stdio_session(healer_env(healer_home), *args) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
            prompt = await client.get_prompt(prompt_name, {"incident_id": "INC-20261122-0001"})
            return tools, prompts, str(prompt.messages[0].content), client.instructions or ""

    tools, prompts, text, instructions = asyncio.run(agent())
    assert prompts == {prompt_name}
    for said in (text, instructions):
        named = {name for name in ANNOTATIONS if name in said}
        assert named and named <= tools, named - tools


# (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) per tool, as an agent's client reads them.
ANNOTATIONS = {
    "get_pending_incidents": (True, False, True, False),
    "get_fix_feedback": (True, False, True, False),  # reads the store, never the forge
    # Both read the repository, which for a repo configured by `url` means fetching a clone from the forge.
    "get_incident_details": (True, False, True, True),
    "get_repository_context": (True, False, True, True),
    # A repeat claim moves the lease's expiry and writes a timeline event: not idempotent.
    "claim_incident": (False, False, False, False),
    "report_fix_status": (False, False, False, False),
    "release_incident": (False, False, False, False),  # a second release is refused: not claimed any more
    "submit_fix": (False, False, False, True),  # pushes a branch and opens a pull request on the forge
}


def test_every_tool_is_annotated_honestly(healer_home: Path) -> None:
    async def agent() -> dict[str, tuple[bool | None, ...]]:
        async with stdio_session(healer_env(healer_home)) as client:
            tools = (await client.list_tools()).tools
        table = {}
        for tool in tools:
            hints = tool.annotations
            assert hints is not None, tool.name
            hint_row = (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint)
            table[tool.name] = hint_row
        return table

    assert asyncio.run(agent()) == ANNOTATIONS


def test_stdout_carries_only_protocol_messages(server: ServerProcess) -> None:
    post(server, service="payments", error="pool exhausted")
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_pending_incidents", "arguments": {}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "claim_incident", "arguments": {"incident_id": "bad"}},
        },
    ]
    process = subprocess.Popen(
        [HEALER, "--log-level", "DEBUG", "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server.env,
    )
    assert process.stdin is not None and process.stdout is not None
    lines = []
    for message in messages:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:
            lines.append(process.stdout.readline())  # every stdout line must be one JSON-RPC message
    process.stdin.close()
    process.wait(timeout=60)
    rest = process.stdout.read()
    stderr = process.stderr.read() if process.stderr else ""
    process.stdout.close()
    if process.stderr:
        process.stderr.close()
    assert rest.strip() == ""
    answers = [json.loads(line) for line in lines]
    assert [a["id"] for a in answers] == [1, 2, 3] and all(a["jsonrpc"] == "2.0" for a in answers)
    assert answers[2]["result"]["isError"] is True
    assert "tool refused" in stderr  # logs went to stderr
