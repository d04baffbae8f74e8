"""The whole review loop against the GitHub emulator, through real processes.

`healer serve` in its own process, the agent as a real MCP client over stdio (`healer mcp`),
PyGithub talking HTTP to the emulator, pushes over git's smart HTTP, and the emulator delivering
signed webhooks to the server the way GitHub does after each review, comment, push and merge.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, git, healer_env, start_server
from tests.fixer_repo import ADD_FIX, MUL_FIX, TEST_COMMAND, diff_for, make_calc_repo
from tests.github_emulator import GitHubEmulator
from tests.mcp_client import stdio_session, structured

TOKEN = "ghp_" + "Rv7" * 12
SECRET = "webhook-secret-" + "x" * 16


@dataclass
class World:
    emulator: GitHubEmulator
    server: ServerProcess
    source: Path
    tmp: Path

    def incident(self, iid: str) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.server.url}/incidents/{iid}", timeout=10).json()
        return answer

    def wait_for(self, iid: str, status: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        self.emulator.hooks.drain()
        while True:
            found = self.incident(iid)
            if found["status"] == status:
                return found
            if time.monotonic() > deadline:
                events = httpx.get(f"{self.server.url}/incidents/{iid}/timeline").json()
                raise AssertionError(f"{iid} is {found['status']}, not {status}: {[e['event'] for e in events]}")
            time.sleep(0.1)

    def branch_diff(self, branch: str, edits: dict[str, tuple[str, str]]) -> str:
        """A follow-up change, written against the PR branch as the agent reads it."""
        work = self.tmp / f"follow-up-{time.monotonic_ns()}"
        git(self.tmp, "clone", "-q", "--branch", branch, str(self.emulator.bare), str(work))
        for path, (old, new) in edits.items():
            target = work / path
            target.write_text(target.read_text().replace(old, new))
        git(work, "add", "-A")
        return git(work, "diff", "--cached")


def start_world(tmp_path: Path, quiet_minutes: float, verification: str = "", **env: str) -> Iterator[World]:
    source = make_calc_repo(tmp_path / "calc")
    emulator = GitHubEmulator(tmp_path / "github", token=TOKEN)
    emulator.seed(source)
    emulator.start()
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\nurl = "{emulator.url}/acme/payments.git"\nforge = "github"\ngithub_repo = "acme/payments"\n'
        f'test_command = "{TEST_COMMAND}"\nservices = ["calc"]\n\n[verification]\nquiet_minutes = {quiet_minutes}\n'
        + verification
    )
    server_env = healer_env(
        home,
        GITHUB_TOKEN=TOKEN,
        HEALER_GITHUB_URL=emulator.url,
        HEALER_GITHUB_WEBHOOK_SECRET=SECRET,
        HEALER_REVIEW_INTERVAL_SECONDS="0.3",
        # The emulator has no secondary rate limits to respect: no pauses between API calls.
        HEALER_GITHUB_SECONDS_BETWEEN_REQUESTS="0",
        HEALER_GITHUB_SECONDS_BETWEEN_WRITES="0",
        **env,
    )
    server = start_server(server_env, tmp_path / "server.log")
    emulator.deliver_to(f"{server.url}/github/webhook", SECRET)
    try:
        yield World(emulator, server, source, tmp_path)
        emulator.hooks.drain()
    finally:
        server.stop()
        emulator.stop()
    assert emulator.violations == [], emulator.violations
    assert TOKEN not in (tmp_path / "server.log").read_text()
    refused = [(d.event, d.status, d.error) for d in emulator.hooks.sent if d.status not in (200, 202)]
    assert refused == [], refused


def report(world: World) -> str:
    created = httpx.post(
        f"{world.server.url}/incidents",
        json={"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"},
        timeout=10,
    ).json()
    iid = str(created["id"])
    world.wait_for(iid, "pending")
    return iid


def review_round(world: World) -> tuple[str, int]:
    """PR opened by submit_fix -> changes requested with two inline comments -> follow-up -> approved -> merged."""
    iid = report(world)
    emulator = world.emulator

    async def first_fix() -> dict[str, Any]:
        async with stdio_session(world.server.env, name="cline") as client:
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            return structured(
                await client.call_tool(
                    "submit_fix",
                    {
                        "incident_id": iid,
                        "change": {"diff": diff_for(world.source, ADD_FIX, world.tmp)},
                        "title": "add adds",
                        "explanation": "add subtracted its arguments; it now adds them.",
                    },
                )
            )

    opened = asyncio.run(first_fix())
    number = int(opened["pull_request_number"])
    assert opened["pull_request_created"] is True and emulator.pulls[number].state == "open"

    emulator.grant("ana", "write")  # a maintainer: her findings are tasks for the agent (checked through the API)
    emulator.review(
        number,
        "ana",
        "changes_requested",
        body="Two things before this can go in.",
        comments=[
            ("app/calc.py", 5, "Please add a regression test for add."),
            ("app/calc.py", 9, "mul is off by one too: `return a * b + 1`."),
        ],
    )
    world.wait_for(iid, "changes_requested")

    async def follow_up() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with stdio_session(world.server.env, name="cline") as client:
            pending = structured(await client.call_tool("get_pending_incidents", {}))
            assert iid in [item["id"] for item in pending["incidents"]]
            feedback = structured(await client.call_tool("get_fix_feedback", {"incident_id": iid}))
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            context = structured(await client.call_tool("get_repository_context", {"repo": "calc", "incident_id": iid}))
            outcome = structured(
                await client.call_tool(
                    "submit_fix",
                    {
                        "incident_id": iid,
                        "change": {"diff": world.branch_diff(f"healer/{iid}", MUL_FIX)},
                        "title": "mul multiplies",
                        "explanation": "add subtracted its arguments and mul added one; both are fixed.",
                        "addresses": [f"{f['author']} on {f['file']}:{f['line']}" for f in feedback["findings"]],
                    },
                )
            )
            return feedback, context, outcome

    feedback, context, outcome = asyncio.run(follow_up())
    assert [(f["author"], f["file"], f["line"]) for f in feedback["findings"]] == [
        ("ana", "app/calc.py", 5),
        ("ana", "app/calc.py", 9),
    ]
    assert [v["state"] for v in feedback["verdicts"]] == ["changes_requested"]
    assert context["branch"] == f"healer/{iid}"  # the agent read the PR branch, not main
    assert outcome["pull_request_number"] == number and outcome["pull_request_created"] is False
    assert git(emulator.bare, "rev-list", "--count", f"main..healer/{iid}").strip() == "2"
    assert any("addresses" in c.body and "app/calc.py:9" in c.body for c in emulator.pulls[number].comments)
    stale = httpx.get(f"{world.server.url}/incidents/{iid}/feedback").json()
    assert stale["verdicts"][0]["stale"] is True  # the verdict was on the first commit

    emulator.review(number, "ana", "approved")
    world.wait_for(iid, "approved")
    emulator.merge(number, "ana")
    world.wait_for(iid, "merged")
    return iid, number


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[World]:
    yield from start_world(tmp_path, quiet_minutes=30)


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[World]:
    yield from start_world(tmp_path, quiet_minutes=0.05)  # three seconds


def test_a_repeat_alert_inside_the_window_regresses(watching: World) -> None:
    iid, number = review_round(watching)
    repeat = httpx.post(
        f"{watching.server.url}/incidents",
        json={"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"},
    ).json()
    assert repeat["id"] == iid and repeat["duplicate"] is True
    found = watching.wait_for(iid, "pending")
    assert found["pull_request"]["number"] == number
    events = [e["event"] for e in httpx.get(f"{watching.server.url}/incidents/{iid}/timeline").json()]
    assert events[-2:] == ["regressed", "reopened"]
    deadline = time.monotonic() + 10  # the comment follows the commit of the move
    while not any("regressed" in c.body for c in watching.emulator.pulls[number].comments):
        assert time.monotonic() < deadline, (watching.tmp / "server.log").read_text()[-3000:]
        time.sleep(0.1)


def test_a_quiet_window_verifies_and_writes_the_postmortem(quick: World) -> None:
    iid, number = review_round(quick)
    quick.wait_for(iid, "verified", timeout=30)
    answer = httpx.get(f"{quick.server.url}/incidents/{iid}/postmortem")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/markdown")
    text = answer.text
    assert f"# Postmortem: {iid}" in text and f"#{number}" in text
    assert "Rounds with changes requested: 1" in text and "Follow-up commits: 1" in text
    assert "`github:ana` approved" in text and "no occurrence in the 3 s after the merge" in text

    async def read() -> str:
        async with stdio_session(quick.server.env) as client:
            resource = await client.read_resource(f"incident://{iid}/postmortem")
            return str(getattr(resource.contents[0], "text", ""))

    assert asyncio.run(read()) == text


def test_healer_retry_only_from_people_with_write_access(watching: World) -> None:
    iid = report(watching)

    async def fix() -> int:
        async with stdio_session(watching.server.env) as client:
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            done = structured(
                await client.call_tool(
                    "submit_fix",
                    {
                        "incident_id": iid,
                        "change": {"diff": diff_for(watching.source, ADD_FIX, watching.tmp)},
                        "title": "add adds",
                        "explanation": "add subtracted its arguments.",
                    },
                )
            )
            return int(done["pull_request_number"])

    number = asyncio.run(fix())
    emulator = watching.emulator
    emulator.close(number, "ana")
    watching.wait_for(iid, "fix_rejected")
    emulator.grant("mallory", "read")
    refused_id = emulator.comment(number, "mallory", "/healer retry")
    emulator.hooks.drain()
    deadline = time.monotonic() + 30
    while "command_refused" not in [
        e["event"] for e in httpx.get(f"{watching.server.url}/incidents/{iid}/timeline").json()
    ]:
        assert time.monotonic() < deadline, "the refused command never reached the timeline"
        time.sleep(0.1)
    assert watching.incident(iid)["status"] == "fix_rejected"

    emulator.grant("ana", "write")
    accepted_id = emulator.comment(number, "ana", "/healer retry")
    watching.wait_for(iid, "pending")
    deadline = time.monotonic() + 10
    while not any(r[0] == accepted_id for r in emulator.reactions):
        assert time.monotonic() < deadline, "the accepted command was never acknowledged"
        time.sleep(0.1)
    assert [r for r in emulator.reactions if r[0] == refused_id] == []
    assert emulator.unvalidated  # permission and reaction calls went through the REST API


def _signed_merge(world_url: str, number: int, delivery: str) -> httpx.Response:
    import hashlib
    import hmac
    import json

    from tests.github_emulator.webhooks import template

    data = template("pull_request")
    data.update(action="closed", number=number)
    data["repository"]["full_name"] = "acme/payments"
    data["pull_request"].update(number=number, merged=True)
    data["pull_request"]["head"]["ref"] = "feature"
    data["sender"]["login"] = "ana"
    body = json.dumps(data).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{world_url}/github/webhook", content=body, headers=headers, timeout=10)


def test_a_delivery_acknowledged_before_a_crash_is_applied_after_the_restart_once(tmp_path: Path) -> None:
    # The first process records deliveries but leaves applying them to another (HEALER_REVIEW_WORKER=false),
    # which pins the crash to the moment between the answer and the processing.
    world_iter = start_world(tmp_path, quiet_minutes=30, HEALER_REVIEW_WORKER="false")
    world = next(world_iter)
    iid = report(world)

    async def fix() -> int:
        async with stdio_session(world.server.env) as client:
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            done = structured(
                await client.call_tool(
                    "submit_fix",
                    {
                        "incident_id": iid,
                        "change": {"diff": diff_for(world.source, ADD_FIX, world.tmp)},
                        "title": "add adds",
                        "explanation": "add subtracted its arguments.",
                    },
                )
            )
            return int(done["pull_request_number"])

    number = asyncio.run(fix())
    world.emulator.hooks.drain()
    answer = _signed_merge(world.server.url, number, "delivery-before-crash")
    assert answer.status_code == 202
    os.kill(world.server.process.pid, signal.SIGKILL)
    world.server.process.wait(10)
    assert world.server.process.returncode == -signal.SIGKILL

    env = {**world.server.env, "HEALER_REVIEW_WORKER": "true"}
    restarted = start_server(env, tmp_path / "restarted.log")
    try:
        world.server = restarted
        found = world.wait_for(iid, "merged")
        assert found["status"] == "merged"
        again = _signed_merge(restarted.url, number, "delivery-before-crash")
        assert again.status_code == 200 and again.json()["duplicate"] is True
        time.sleep(1)  # the worker wakes on every delivery; give it the chance to get this wrong
        events = [e["event"] for e in httpx.get(f"{restarted.url}/incidents/{iid}/timeline").json()]
        assert events.count("pr_merged") == 1
    finally:
        restarted.stop()
        world.emulator.stop()
