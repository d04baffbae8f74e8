"""Verification that starts at the deploy: a merged fix waits for a deployment containing its merge.

The local forge, the real fixer's cached clone (git decides what a deployed sha contains), the
store on both backends, and time moved by hand. Deployments come as GitHub ``deployment_status``
deliveries and over real HTTP to ``POST /deployments``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixer.forge import PullRequestDraft
from server.api.app import create_app
from server.api.state import AppState
from server.errors import ConfigError
from server.fixing.forges import local_forge_dir
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.review import github_webhook, local_review
from server.review.deployments import load_deployments
from server.review.postmortem import require
from server.store import Store
from server.store.prs import StorePullRequests
from tests.conftest import FIXTURES, FakeClock, git
from tests.fixer_repo import ADD_FIX
from tests.test_review_loop import Loop
from tests.uvicorn_thread import serving
from tools.incidents import details as incident_details

DEPLOY = '[verification]\nquiet_minutes = 30\nstart = "deploy"\nenvironments = ["production"]\n'
SIGNING = "deploy-signing-" + "k" * 20


@pytest.fixture
def loop(store: Store, tmp_path: Path) -> Loop:
    # Still inside [repos.calc]: github_repo lets GitHub's deployment_status deliveries name this repository.
    return Loop(
        store, tmp_path, 'github_repo = "acme/calc"\n' + DEPLOY + f'\n[deployments]\nsigning_secret = "{SIGNING}"\n'
    )


def merged(loop: Loop) -> tuple[str, str]:
    """An incident whose fix was merged on the local forge; and the merge commit."""
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    pr = local_review.merge(loop.store, loop.config, loop.settings, number, by="ana")
    assert pr.merge_commit and loop.store.get(iid).status == Status.merged
    return iid, pr.merge_commit


def later_commit(loop: Loop, tmp_path: Path) -> str:
    """Someone else's commit on main after the merge: a deploy of it contains the fix."""
    bare = local_forge_dir(loop.settings, loop.config.repo("calc"))
    work = tmp_path / "later"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    (work / "NOTES.md").write_text("release notes\n")
    git(work, "add", "NOTES.md")
    git(work, "-c", "user.name=bo", "-c", "user.email=bo@example.com", "commit", "-qm", "notes")
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD").strip()


def deployment_status(sha: str, environment: str = "production", state: str = "success") -> dict[str, Any]:
    """GitHub's deployment_status delivery (octokit's example) for acme/calc at ``sha``."""
    payload: dict[str, Any] = json.loads((FIXTURES / "github-webhooks/deployment_status/payload.json").read_text())
    payload["repository"]["full_name"] = "acme/calc"
    payload["deployment"]["sha"] = sha
    payload["deployment"]["environment"] = payload["deployment_status"]["environment"] = environment
    payload["deployment_status"]["state"] = state
    return payload


def test_a_merged_fix_is_not_verified_before_its_deploy_however_long(loop: Loop, clock: FakeClock) -> None:
    iid, _ = merged(loop)
    for _ in range(3):
        clock.advance(days=3)
        assert loop.worker.step()[1] == []
    incident = loop.store.get(iid)
    assert incident.status == Status.merged
    assert "verified" not in loop.events(iid)


def test_a_github_deployment_of_a_later_sha_starts_the_window(loop: Loop, clock: FakeClock, tmp_path: Path) -> None:
    iid, merge = merged(loop)
    clock.advance(hours=5)  # merged long ago: only the deploy counts
    assert loop.worker.step()[1] == []
    sha = later_commit(loop, tmp_path)

    github_webhook.record(loop.store, "d-staging", "deployment_status", deployment_status(sha, "staging"))
    github_webhook.record(loop.store, "d-failed", "deployment_status", deployment_status(sha, state="failure"))
    loop.worker.step()
    assert "deployed" not in loop.events(iid)

    github_webhook.record(loop.store, "d-prod", "deployment_status", deployment_status(sha))
    clock.advance(minutes=1)
    assert loop.worker.step()[1] == []
    deployed = [e for e in loop.store.timeline(iid) if e.event == "deployed"]
    assert [(e.detail["sha"], e.detail["environment"], e.detail["merge_commit"]) for e in deployed] == [
        (sha, "production", merge)
    ]

    clock.advance(minutes=29)
    assert loop.worker.step()[1] == []
    clock.advance(minutes=2)
    assert [(m.incident_id, m.to) for m in loop.worker.step()[1]] == [(iid, Status.verified)]
    text = require(loop.store, iid)
    assert "no occurrence in the 30 min after the deploy" in text
    assert "| deploy (merged -> deployed) |" in text
    assert "| verified (deployed -> verified) |" in text
    assert f"to `production` at `{sha[:12]}`" in text


def test_a_repeat_between_merge_and_deploy_is_not_a_regression(loop: Loop, clock: FakeClock) -> None:
    iid, merge = merged(loop)
    clock.advance(minutes=5)
    loop.store.ingest(normalize(IncidentIn(service="calc", error="add returned -1 for 2+3"), loop.config))
    clock.advance(minutes=5)
    github_webhook.record(loop.store, "d1", "deployment_status", deployment_status(merge))
    loop.worker.step()
    assert loop.store.get(iid).status == Status.merged  # the old code was still running: no evidence either way
    clock.advance(minutes=2)
    loop.store.ingest(normalize(IncidentIn(service="calc", error="add returned -1 for 2+3"), loop.config))
    moved = loop.worker.step()[1]
    assert [(m.incident_id, m.to) for m in moved] == [(iid, Status.pending)]
    regressed = next(e for e in loop.store.timeline(iid) if e.event == "regressed")
    assert "after the deploy" in regressed.detail["why"]


def _signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SIGNING.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "x-healer-signature-256": f"sha256={digest}"}


def test_post_deployments_over_http(loop: Loop, clock: FakeClock, tmp_path: Path) -> None:
    iid, merge = merged(loop)
    older = git(loop.source, "rev-parse", "HEAD").strip()  # main before the fix: does not contain it
    state = AppState(
        settings=loop.settings,
        config=loop.config,
        store=loop.store,
        reviews=loop.worker,
        deployments=load_deployments(loop.config, {}),
    )
    with serving(create_app(state)) as url:

        def post(body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> httpx.Response:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            return httpx.post(f"{url}/deployments", content=raw, headers=headers or _signed(raw), timeout=30)

        good = {"repo": "calc", "sha": merge, "environment": "production", "status": "success"}
        unsigned = post(good, {"content-type": "application/json"})
        assert unsigned.status_code == 401 and "X-Healer-Signature-256" in unsigned.json()["error"]["message"]
        assert post(good, {**_signed(b"{}"), "content-type": "application/json"}).status_code == 401
        short = post({**good, "sha": merge[:7]})
        assert short.status_code == 422 and "sha" in short.json()["error"]["message"]
        unknown = post({**good, "repo": "nope"})
        assert unknown.status_code == 422 and "calc" in unknown.json()["error"]["message"]
        assert post(b"not json").status_code == 422
        assert "deployed" not in loop.events(iid)

        ignored = post({**good, "sha": older})
        assert ignored.status_code == 200, ignored.text
        assert ignored.json()["incidents"] == [
            {
                "incident_id": iid,
                "outcome": "ignored",
                "why": f"{older[:12]} does not contain the merge commit {merge[:12]}",
            }
        ]
        note = [e for e in loop.store.timeline(iid) if e.event == "deploy_ignored"]
        assert len(note) == 1 and note[0].detail["sha"] == older
        clock.advance(hours=2)
        assert loop.worker.step()[1] == []

        answer = post(good)
        assert answer.status_code == 200, answer.text
        assert [i["outcome"] for i in answer.json()["incidents"]] == ["deployed"]
        assert post(good).json()["incidents"] == []  # a repeat changes nothing
    clock.advance(minutes=31)
    assert [(m.incident_id, m.to) for m in loop.worker.step()[1]] == [(iid, Status.verified)]
    assert SIGNING not in json.dumps([e.detail for e in loop.store.timeline(iid)])


def test_post_deployments_is_closed_without_a_deployments_table(store: Store, tmp_path: Path) -> None:
    loop = Loop(store, tmp_path, DEPLOY)
    state = AppState(settings=loop.settings, config=loop.config, store=store)
    with serving(create_app(state)) as url:
        answer = httpx.post(
            f"{url}/deployments",
            json={"repo": "calc", "sha": "a" * 40, "environment": "production", "status": "success"},
        )
    assert answer.status_code == 503 and "[deployments]" in answer.json()["error"]["message"]


def test_deployments_table_needs_a_credential(tmp_path: Path, store: Store) -> None:
    loop = Loop(store, tmp_path, DEPLOY + '\n[deployments]\nheader_name = "X-Token"\n')
    with pytest.raises(ConfigError, match="no credential"):
        load_deployments(loop.config, {})


def test_a_regression_after_the_deploy_opens_a_tested_revert_pull_request(
    store: Store, tmp_path: Path, clock: FakeClock
) -> None:
    loop = Loop(store, tmp_path, 'github_repo = "acme/calc"\n' + DEPLOY + 'on_regression = "revert"\n')
    iid, merge = merged(loop)
    original = loop.store.get(iid).pull_request
    assert original is not None and original.number is not None
    github_webhook.record(loop.store, "d1", "deployment_status", deployment_status(merge))
    loop.worker.step()
    clock.advance(minutes=10)
    loop.store.ingest(normalize(IncidentIn(service="calc", error="add returned -1 for 2+3"), loop.config))

    moved = loop.worker.step()[1]
    assert [(m.incident_id, m.to) for m in moved] == [(iid, Status.pending)]
    assert loop.events(iid)[-3:] == ["regressed", "reopened", "revert_opened"]
    opened = loop.store.timeline(iid)[-1].detail
    records = StorePullRequests(loop.store)
    revert = records.get(int(opened["number"]))
    assert revert is not None and revert.state == "open"  # proposed, never merged by the bot
    assert revert.head == f"healer/revert-{iid}" and revert.labels == ["healer", "revert"]
    assert iid in revert.body and f"#{original.number}" in revert.body
    assert any(f"#{revert.number}" in c.body for c in records.comments(original.number))

    # The revert's change is exactly the fix's, inverted.
    bare = local_forge_dir(loop.settings, loop.config.repo("calc"))
    head = git(bare, "rev-parse", f"refs/heads/{revert.head}").strip()
    assert git(bare, "rev-list", "--parents", "-n", "1", merge).split()[1:] != []
    assert git(bare, "diff", f"{head}^", head) == git(bare, "diff", merge, f"{merge}^1")
    assert git(bare, "diff", f"{head}^", head) != ""
    # Its tests ran, in the same sandbox as any fix, and are on the record: the fault's test fails again.
    assert opened["how"] == "git revert -m 1" and opened["verification"] and "test" in opened["tests"].lower()

    details = incident_details(loop.store.get(iid), loop.store.timeline(iid), [])
    assert details.failed_fix is not None
    assert details.failed_fix.pull_request == original.url and details.failed_fix.merge_commit == merge
    assert details.failed_fix.revert_pull_request == revert.url
    # A person merging the revert is recorded without touching the reopened incident.
    local_review.merge(loop.store, loop.config, loop.settings, revert.number, by="ana")
    assert loop.store.get(iid).status == Status.pending


def test_a_squash_merge_is_reverted_without_a_mainline(store: Store, tmp_path: Path) -> None:
    from fixer.revert import RevertRequest, open_revert
    from server.fixing.forges import forge_for, repo_spec

    loop = Loop(store, tmp_path, "")
    bare = local_forge_dir(loop.settings, loop.config.repo("calc"))
    forge = forge_for(loop.config.repo("calc"), loop.settings, store)
    work = tmp_path / "squash"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    target = work / "app/calc.py"
    target.write_text(target.read_text().replace("return a - b", "return a + b"))
    git(work, "-c", "user.name=bo", "-c", "user.email=bo@example.com", "commit", "-qam", "squashed fix")
    git(work, "push", "-q", "origin", "HEAD:main")
    squash = git(work, "rev-parse", "HEAD").strip()
    pr = (
        StorePullRequests(store)
        .create(
            "calc",
            PullRequestDraft(title="t", body="b", head="h", base="main", incident_id="INC-20261207-0001"),
            squash,
            url_for="local://calc/pull",
        )
        .number
    )
    result = open_revert(
        loop.fixes.fixer,
        repo_spec(loop.config.repo("calc"), loop.settings),
        RevertRequest(
            incident_id="INC-20261207-0001", merge_commit=squash, original_number=pr, original_url="u", why="w"
        ),
        forge,
    )
    assert result.parents == 1
    assert git(bare, "diff", f"{result.commit}^", result.commit) == git(bare, "diff", squash, f"{squash}^")


def test_start_and_on_regression_per_repository_and_service(store: Store, tmp_path: Path) -> None:
    from server.review.verification import load_verification

    extra = (
        '[verification]\nquiet_minutes = 30\n[verification.repos.calc]\nstart = "deploy"\non_regression = "revert"\n'
        '[verification.services]\ncalc = {start = "merge", quiet_minutes = 5}\nbilling = 60\n'
    )
    verification = load_verification(Loop(store, tmp_path, extra).config)
    calc = verification.policy("calc", "calc")
    assert (calc.start, calc.on_regression, calc.window.total_seconds()) == ("merge", "revert", 300)
    other = verification.policy("orders", "calc")
    assert (other.start, other.environments, other.window.total_seconds()) == ("deploy", ["production"], 1800)
    assert verification.window("billing").total_seconds() == 3600

    (tmp_path / "bad").mkdir()
    with pytest.raises(ConfigError, match=r"verification\.start"):
        load_verification(Loop(store, tmp_path / "bad", '[verification]\nstart = "release"\n').config)


def test_the_deployments_secret_is_one_the_server_redacts(loop: Loop) -> None:
    from server.held_secrets import server_secrets

    assert SIGNING in server_secrets(loop.settings, loop.config, {})
