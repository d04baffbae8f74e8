"""A path no file can have (a NUL byte, a control character) is a refused change: 422 over REST, a
tool error over MCP, no attempt counted, the agent keeps its claim, the repository is untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, wait_until_triaged
from tests.fixer_repo import snapshot
from tests.mcp_client import error_text, stdio_session, structured
from tests.test_fixes import start_calc_server

# (path, the error reported: a distinct one per incident)
BAD_PATHS = {
    "app/calc\0.py": "add returned -1 for 2+3",
    "app/\x01calc.py": "KeyError: 'currency' in checkout",
    "app/calc.py\n": "ZeroDivisionError in ratio",
    "app/\x7fcalc.py": "TimeoutError talking to the ledger",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServerProcess:
    started = start_calc_server(tmp_path_factory.mktemp("paths"), "")
    yield started  # type: ignore[misc]
    started.stop()


def _pending(server: ServerProcess, error: str) -> str:
    iid = httpx.post(f"{server.url}/incidents", json={"service": "calc", "error": error}).json()["id"]
    assert wait_until_triaged(server.url, iid)["status"] == "pending"
    return str(iid)


def _still_claimed(server: ServerProcess, iid: str, agent: str) -> None:
    incident = httpx.get(f"{server.url}/incidents/{iid}").json()
    assert incident["status"] == "claimed" and incident["attempts"] == 0
    assert incident["claim"]["holder"] == agent
    events = httpx.get(f"{server.url}/incidents/{iid}/timeline").json()
    assert [e for e in events if e["event"] == "fix_refused"], events
    assert not [e for e in events if e["event"] in ("attempt_failed", "dead_lettered")]


@pytest.mark.parametrize("path", list(BAD_PATHS))
def test_rest_refuses_a_control_character_in_a_path(server: ServerProcess, path: str) -> None:
    source: Path = server.source  # type: ignore[attr-defined]
    before = snapshot(source)
    iid = _pending(server, BAD_PATHS[path])
    claimed = httpx.post(f"{server.url}/incidents/{iid}/claim", json={"agent": "kestra"})
    assert claimed.status_code == 200, claimed.text
    body = {
        "change": {"edits": [{"path": path, "create": "x = 1\n"}]},
        "summary": "a fix",
        "explanation": "a path no file can have",
        "agent": "kestra",
    }
    refused = httpx.post(f"{server.url}/incidents/{iid}/fix", json=body, timeout=120)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["rule"] == "path-inside-repo" and "control character" in error["message"]
    _still_claimed(server, iid, "kestra")
    assert snapshot(source) == before


def test_mcp_refuses_a_nul_byte_in_a_path(server: ServerProcess) -> None:
    iid = _pending(server, "mul returned 7 for 2*3")

    async def agent() -> str:
        async with stdio_session(server.env, name="cline") as client:
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            refused = await client.call_tool(
                "submit_fix",
                {
                    "incident_id": iid,
                    "change": {"edits": [{"path": "app/calc\0.py", "create": "x = 1\n"}]},
                    "title": "a fix",
                    "explanation": "a path no file can have",
                },
            )
            return error_text(refused)

    message = asyncio.run(agent())
    assert "`path-inside-repo`" in message and "control character" in message
    _still_claimed(server, iid, "cline")
