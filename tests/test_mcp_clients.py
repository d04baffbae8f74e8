"""Third-party MCP clients against our server: the official MCP Inspector (CLI) and conformance suite.

They come from npm, so they run where HEALER_TEST_MCP_CLIENTS=1 (CI sets it; Node and npm must
be installed). The conformance suite needs Node 22, which is taken from npm's `node` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import HEALER, REPO_ROOT, ServerProcess, wait_until_triaged

INSPECTOR = "@modelcontextprotocol/inspector@0.18.0"
CONFORMANCE = "@modelcontextprotocol/conformance@0.1.16"
NODE = "node@22"

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("HEALER_TEST_MCP_CLIENTS") != "1",
        reason="third-party MCP clients come from npm: set HEALER_TEST_MCP_CLIENTS=1 (CI does) to run them",
    ),
    pytest.mark.slow,
]


def npx() -> str:
    found = shutil.which("npx")
    if found is None:
        pytest.fail("HEALER_TEST_MCP_CLIENTS=1 but npx is not on PATH; install Node.js and npm")
    return found


def inspector(env: dict[str, str], *args: str) -> dict[str, object]:
    done = subprocess.run(
        [npx(), "-y", INSPECTOR, "--cli", HEALER, "mcp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_inspector_lists_and_calls_tools_over_stdio(server: ServerProcess) -> None:
    created = httpx.post(f"{server.url}/incidents", json={"service": "payments", "error": "pool exhausted"}).json()
    wait_until_triaged(server.url, created["id"])
    listed = inspector(server.env, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}  # type: ignore[attr-defined]
    assert {"get_pending_incidents", "claim_incident", "get_repository_context"} <= names
    called = inspector(
        server.env, "--method", "tools/call", "--tool-name", "get_pending_incidents", "--tool-arg", "limit=5"
    )
    assert called["structuredContent"]["incidents"][0]["id"] == created["id"]  # type: ignore[index]


def test_conformance_suite_passes(server: ServerProcess, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            npx(),
            "-y",
            "-p",
            NODE,
            "-p",
            CONFORMANCE,
            "--",
            "conformance",
            "server",
            "--url",
            f"{server.url}/mcp",
            "--expected-failures",
            str(REPO_ROOT / "tests" / "conformance" / "expected-failures.yml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = done.stdout[done.stdout.find("=== SUMMARY ===") :]
    assert done.returncode == 0, summary or done.stderr[-3000:]
    for scenario in ("server-initialize", "tools-list", "resources-list", "prompts-list", "dns-rebinding-protection"):
        assert f"✓ {scenario}:" in summary, summary
