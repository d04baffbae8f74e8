"""submit_fix end to end through real processes: REST server, stdio MCP agent, local forge, `healer pr`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fixer.forge_local import ensure_bare_remote
from server.store import Store
from server.store.prs import StorePullRequests
from tests.conftest import HEALER, ServerProcess, git, healer_env, start_server, wait_until_triaged
from tests.fixer_repo import ADD_FIX, TEST_COMMAND, diff_for, make_calc_repo
from tests.mcp_client import error_text, stdio_session, structured


def start_calc_server(tmp_path: Path, repo_toml: str) -> ServerProcess:
    """`healer serve` with the calc repository configured (plus ``repo_toml`` under [repos.calc])."""
    source = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(f'[repos.calc]\npath = "{source}"\nservices = ["calc"]\n{repo_toml}')
    server = start_server(healer_env(home), tmp_path / "server.log")
    server.source = source  # type: ignore[attr-defined]
    return server


@pytest.fixture
def calc_server(tmp_path: Path) -> ServerProcess:
    server = start_calc_server(tmp_path, f'test_command = "{TEST_COMMAND}"\n')
    yield server  # type: ignore[misc]
    server.stop()


def healer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=120)


def test_agent_submits_a_fix_and_a_person_reviews_it(calc_server: ServerProcess, tmp_path: Path) -> None:
    source: Path = calc_server.source  # type: ignore[attr-defined]
    created = httpx.post(
        f"{calc_server.url}/incidents", json={"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"}
    ).json()
    iid = created["id"]
    assert wait_until_triaged(calc_server.url, iid)["status"] == "pending"
    fix = diff_for(source, ADD_FIX, tmp_path)
    progress: list[str] = []

    async def note(progress_value: float, total: float | None, message: str | None) -> None:
        if message:
            progress.append(message)

    async def agent() -> dict[str, object]:
        async with stdio_session(calc_server.env, name="cline") as client:
            structured(await client.call_tool("claim_incident", {"incident_id": iid}))
            refused = await client.call_tool(
                "submit_fix",
                {
                    "incident_id": iid,
                    "change": {"edits": [{"path": ".github/workflows/ci.yml", "create": "x"}]},
                    "title": "touch CI",
                    "explanation": "this should be refused by policy",
                },
            )
            assert "`deny-list`" in error_text(refused)
            outcome = await client.call_tool(
                "submit_fix",
                {
                    "incident_id": iid,
                    "change": {"diff": fix},
                    "title": "add adds",
                    "explanation": "add subtracted its arguments; it now adds them.",
                },
                progress_callback=note,
            )
            return structured(outcome)

    outcome = asyncio.run(agent())
    assert outcome["status"] == "pr_open" and outcome["pull_request_created"] is True
    assert str(outcome["verification"]).startswith("improved")
    assert {"sync", "test-before", "test-after", "push"} <= set(progress)
    incident = httpx.get(f"{calc_server.url}/incidents/{iid}").json()
    assert incident["status"] == "pr_open"
    assert incident["pull_request"]["number"] == outcome["pull_request_number"]
    events = [e["event"] for e in httpx.get(f"{calc_server.url}/incidents/{iid}/timeline").json()]
    assert events[-5:] == ["fix_started", "fix_refused", "fix_started", "pushing", "pr_opened"]

    listed = healer(calc_server.env, "pr", "list")
    header, row = listed.stdout.splitlines()
    assert header.split() == ["PR", "STATE", "REPO", "BRANCH", "TITLE"]
    assert row.startswith("#1") and "healer/" + iid in row
    assert row.index("healer/") == header.index("BRANCH") and row.index("calc") == header.index("REPO")
    shown = healer(calc_server.env, "pr", "show", "1")
    assert "+    return a + b" in shown.stdout and "test_add" in shown.stdout  # the diff and the test output
    assert "<!-- healer:" not in shown.stdout and "## What changed" in shown.stdout
    headed = subprocess.run(
        f"{HEALER} pr show 1 | head -n 2", shell=True, env=calc_server.env, capture_output=True, text=True, timeout=60
    )
    assert len(headed.stdout.splitlines()) == 2 and "Traceback" not in headed.stderr
    merged = healer(calc_server.env, "pr", "merge", "1", "--as", "ana")
    assert merged.returncode == 0, merged.stderr
    incident = httpx.get(f"{calc_server.url}/incidents/{iid}").json()
    assert incident["status"] == "merged"
    again = healer(calc_server.env, "pr", "merge", "1")
    assert again.returncode == 2 and "only open pull requests can be merged" in again.stderr


def test_rest_fix_requires_the_claim(calc_server: ServerProcess, tmp_path: Path) -> None:
    source: Path = calc_server.source  # type: ignore[attr-defined]
    iid = httpx.post(f"{calc_server.url}/incidents", json={"service": "calc", "error": "boom"}).json()["id"]
    wait_until_triaged(calc_server.url, iid)
    body = {
        "change": {"diff": diff_for(source, ADD_FIX, tmp_path)},
        "summary": "add adds",
        "explanation": "add subtracted its arguments.",
        "agent": "kestra",
    }
    refused = httpx.post(f"{calc_server.url}/incidents/{iid}/fix", json=body, timeout=120)
    assert refused.status_code == 409 and "claim it" in refused.json()["error"]["message"]


SUBMIT = """
import json, sys
from pathlib import Path
from fixer.forge_local import LocalForge
from fixer.models import Change, Edit, FixRequest, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from server.store import Store
from server.store.prs import StorePullRequests
args = json.loads(sys.argv[1])
store = Store.open(args["db"])
forge = LocalForge("calc", Path(args["bare"]), StorePullRequests(store))
spec = RepoSpec(name="calc", path=args["source"])
change = Change(edits=[Edit(path="app/calc.py", old=args["old"], new=args["new"])])
request = FixRequest(incident_id="INC-20261122-0009", service="calc", severity="high", title="t",
                     summary=args["summary"], explanation="concurrent submission", trace_id="t", change=change)
result = Fixer(Workspace(Path(args["workspace"]))).submit(spec, request, forge)
print(json.dumps({"number": result.pull_request.number, "created": result.pull_request.created}))
"""


def test_two_processes_submitting_for_one_incident_make_one_pull_request(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    bare = ensure_bare_remote(str(source), tmp_path / "forge.git")
    db = f"sqlite:///{tmp_path / 'healer.db'}"
    Store.open(db).close()
    # Two changes that apply in either order (each on top of the other's commit).
    changes = [ADD_FIX["app/calc.py"], ("return a * b + 1", "return a * b")]
    argv = [
        json.dumps(
            {
                "db": db,
                "bare": str(bare),
                "source": str(source),
                "workspace": str(tmp_path / "ws"),
                "old": old,
                "new": new,
                "summary": f"attempt {n}",
            }
        )
        for n, (old, new) in enumerate(changes, start=1)
    ]
    procs = [subprocess.Popen([sys.executable, "-c", SUBMIT, a], stdout=subprocess.PIPE, text=True) for a in argv]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert {o["number"] for o in outputs} == {1}
    assert sorted(o["created"] for o in outputs) == [False, True]
    store = Store.open(db)
    assert len(StorePullRequests(store).list_prs()) == 1
    store.close()
    assert git(bare, "rev-list", "--count", "main..healer/INC-20261122-0009").strip() == "2"


def test_the_pull_request_cap_holding_a_fix_back_is_said_on_the_incident(tmp_path: Path) -> None:
    server = start_calc_server(tmp_path, "[repos.calc.policy]\nmax_open_prs = 1\n")
    source: Path = server.source  # type: ignore[attr-defined]
    try:
        answers = []
        for error in ("add returned -1 for 2+3", "mul returned 7 for 2*3"):
            iid = httpx.post(f"{server.url}/incidents", json={"service": "calc", "error": error}).json()["id"]
            wait_until_triaged(server.url, iid)
            claimed = httpx.post(f"{server.url}/incidents/{iid}/claim", json={"agent": "kestra"})
            assert claimed.status_code == 200, claimed.text
            body = {
                "change": {"edits": [{"path": f"app/fix_{len(answers)}.py", "create": "x = 1\n"}]},
                "summary": "a fix",
                "explanation": "a change for the cap",
                "agent": "kestra",
            }
            answers.append((iid, httpx.post(f"{server.url}/incidents/{iid}/fix", json=body, timeout=120)))
        (_first, opened), (second, held) = answers
        assert opened.status_code == 200, opened.text
        assert held.status_code == 409 and "cap" in held.json()["error"]["message"]
        incident = httpx.get(f"{server.url}/incidents/{second}").json()
        assert incident["status"] == "pending" and incident["pull_request"] is None
        timeline = httpx.get(f"{server.url}/incidents/{second}/timeline").json()
        events = timeline["items"] if isinstance(timeline, dict) else timeline
        (held_back,) = [event for event in events if event["event"] == "held_back"]
        assert "cap" in held_back["detail"]["why"]
        assert git(source, "branch", "--list").strip() == "* main"  # the user's clone is untouched
    finally:
        server.stop()
