"""Deploy-started verification and the revert pull request against the GitHub emulator.

`healer serve` in its own process, the agent over MCP, PyGithub over HTTP to the emulator, and
the emulator's signed webhooks: a merge, deployment statuses, a repeat of the alert, and the
revert pull request the fixer opens on "GitHub".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import git
from tests.mcp_client import stdio_session, structured
from tests.test_review_loop_github import World, review_round, start_world


@pytest.fixture
def deploying(tmp_path: Path) -> Iterator[World]:
    yield from start_world(tmp_path, quiet_minutes=0.05, verification='start = "deploy"\non_regression = "revert"\n')


def events(world: World, iid: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = httpx.get(f"{world.server.url}/incidents/{iid}/timeline", timeout=10).json()
    return answer


def wait_for_event(world: World, iid: str, name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    world.emulator.hooks.drain()
    while True:
        found = [e for e in events(world, iid) if e["event"] == name]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, (world.tmp / "server.log").read_text()[-3000:]
        time.sleep(0.2)


def test_merge_then_deploy_then_a_repeat_opens_a_revert_pull_request(deploying: World) -> None:
    world, emulator = deploying, deploying.emulator
    iid, number = review_round(world)
    merge = emulator.pulls[number].merge_commit_sha
    assert merge

    time.sleep(6)  # twice the three-second window: merged, but not deployed, so not verified
    assert world.incident(iid)["status"] == "merged"
    emulator.deploy(merge, "staging")
    emulator.deploy(merge, "production", state="failure")
    emulator.hooks.drain()
    time.sleep(1)
    assert world.incident(iid)["status"] == "merged"
    assert "deployed" not in [e["event"] for e in events(world, iid)]

    emulator.deploy(merge, "production")
    deployed = wait_for_event(world, iid, "deployed")
    assert (deployed["detail"]["sha"], deployed["detail"]["environment"]) == (merge, "production")
    repeat = httpx.post(
        f"{world.server.url}/incidents",
        json={"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"},
        timeout=10,
    ).json()
    assert repeat["id"] == iid
    opened = wait_for_event(world, iid, "revert_opened", timeout=120)["detail"]

    revert = emulator.pulls[int(opened["number"])]
    assert revert.head == f"healer/revert-{iid}" and revert.state == "open" and not revert.merged
    assert {"healer", "revert"} <= set(revert.labels)
    assert iid in (revert.body or "") and f"#{number}" in (revert.body or "")
    assert any(f"#{revert.number}" in c.body for c in emulator.pulls[number].comments)
    head = git(emulator.bare, "rev-parse", f"refs/heads/{revert.head}").strip()
    inverse = git(emulator.bare, "diff", merge, f"{merge}^1")
    assert inverse and git(emulator.bare, "diff", f"{head}^", head) == inverse
    assert opened["how"] == "git revert -m 1" and opened["verification"] and opened["tests"]
    assert world.incident(iid)["status"] == "pending"

    async def details() -> dict[str, Any]:
        async with stdio_session(world.server.env, name="cline") as client:
            return structured(await client.call_tool("get_incident_details", {"incident_id": iid}))

    failed = asyncio.run(details())["failed_fix"]
    assert failed["merge_commit"] == merge and failed["revert_pull_request"] == opened["url"]
    assert failed["pull_request"] and failed["pull_request"].endswith(f"/{number}")
