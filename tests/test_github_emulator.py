"""The GitHub emulator itself: GitHub's schemas, credentials, faults, refs, git over HTTP, App tokens, events."""

from __future__ import annotations

import base64
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import FakeClock, git
from tests.fixer_repo import make_calc_repo
from tests.github_emulator import GitHubEmulator, schemas
from tests.github_emulator.state import Event

TOKEN = "ghp_" + "Em7" * 12
AUTH = {"Authorization": f"token {TOKEN}"}
PULLS = "/repos/acme/payments/pulls"


@pytest.fixture
def emulator(tmp_path: Path, clock: FakeClock) -> Iterator[GitHubEmulator]:
    emu = GitHubEmulator(tmp_path / "github", token=TOKEN, clock=clock)
    emu.seed(make_calc_repo(tmp_path / "calc"))
    emu.start()
    yield emu
    emu.stop()
    assert emu.violations == [], emu.violations


@pytest.fixture
def api(emulator: GitHubEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, headers=AUTH) as client:
        yield client


def open_pull(emulator: GitHubEmulator, api: httpx.Client, head: str = "feature", **extra: Any) -> dict[str, Any]:
    git(emulator.bare, "branch", head, "main")
    answer = api.post(PULLS, json={"title": "t", "body": "b", "head": head, "base": "main", **extra})
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


# -- GitHub's schemas ------------------------------------------------------------------------------


def _pull(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = schemas.example("pull-request")
    body["requested_teams"] = []  # the description's own example lacks a field its schema requires
    body.update(changes)
    return {key: value for key, value in body.items() if value != "<drop>"}


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "problem"),
    [
        ("GET", "/repos/a/b/pulls/1", 200, _pull(), None),  # GitHub's example, as documented
        ("GET", "/repos/a/b/pulls/1", 200, _pull(body=None, merged_by=None), None),  # nullable: true fields
        ("GET", "/repos/a/b/pulls/1", 200, _pull(number="<drop>"), "'number' is a required property"),
        ("GET", "/repos/a/b/pulls/1", 200, _pull(state="merged"), "'merged' is not one of ['open', 'closed']"),
        ("GET", "/repos/a/b/pulls/1", 200, _pull(draft=None), "None is not of type 'boolean'"),  # not nullable
        ("GET", "/repos/a/b/git/ref/heads/a/b", 200, schemas.example("git-ref"), None),  # refs keep their slashes
        ("POST", "/repos/a/b/pulls", 401, {"message": "Bad credentials"}, None),  # any error: basic shape
        ("POST", "/repos/a/b/pulls", 502, {"message": 5}, "5 is not of type 'string'"),
        ("DELETE", "/repos/a/b/git/refs/heads/x", 204, None, None),  # documented without a body
        ("GET", "/repos/a/b/pulls/1/files", 200, [], "not an operation"),  # outside the described subset
    ],
)
def test_schema_check_reports_what_github_would_not_send(
    method: str, path: str, status: int, body: Any, problem: str | None
) -> None:
    found = schemas.problems(method, path, status, body)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_a_malformed_answer_is_recorded_as_a_violation(emulator: GitHubEmulator, api: httpx.Client) -> None:
    emulator.fail_next("GET", "/repos/{owner}/{repo}/pulls", 500, body={"message": ["not", "a", "string"]})
    assert api.get(PULLS).status_code == 500
    assert len(emulator.violations) == 1 and "is not of type 'string'" in emulator.violations[0]
    emulator.violations.clear()  # seen; the fixture's teardown check would fail the test otherwise


# -- credentials -----------------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),  # anonymous
        (f"token {TOKEN}", 200),  # PyGithub's Auth.Token
        (f"Bearer {TOKEN}", 200),
        (_basic("x-access-token", TOKEN), 200),  # how git sends it (http.extraHeader)
        ("token ghp_" + "x" * 36, 401),  # someone else's token
        (_basic("x-access-token", "wrong"), 401),
        ("Basic !!!not-base64", 401),  # malformed: refused, not a server error
        (f"Digest {TOKEN}", 401),
    ],
)
def test_credentials_are_checked(emulator: GitHubEmulator, authorization: str | None, status: int) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for path in ("/user", "/repos/acme/payments", PULLS, "/rate_limit"):
        assert httpx.get(emulator.url + path, headers=headers).status_code == status, path


def test_unknown_repositories_are_not_found(api: httpx.Client) -> None:
    assert api.get("/repos/acme/other").status_code == 404
    assert api.get("/repos/other/payments/pulls").json()["message"] == "Not Found"


def test_github_enterprise_paths(emulator: GitHubEmulator, api: httpx.Client) -> None:
    repo = api.get("/api/v3/repos/acme/payments").json()
    assert repo["url"] == f"{emulator.url}/api/v3/repos/acme/payments"
    assert repo["clone_url"] == f"{emulator.url}/acme/payments.git"  # git lives at the host's root on GHES


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inject", "status", "headers", "message"),
    [
        (lambda e: e.fail_next("GET", "/repos/{owner}/{repo}/pulls", 502), 502, {}, "emulated 502"),
        (
            lambda e: e.secondary_rate_limit("GET", "/repos/{owner}/{repo}/pulls", retry_after=30),
            403,
            {"retry-after": "30"},
            "secondary rate limit",
        ),
        (lambda e: e.secondary_rate_limit("GET", "/repos/{owner}/{repo}/pulls"), 403, {}, "secondary rate limit"),
        (
            lambda e: e.primary_rate_limit("GET", "/repos/{owner}/{repo}/pulls", resets_in=90),
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "<clock+90>"},
            "API rate limit exceeded",
        ),
        (
            lambda e: e.too_many_requests("GET", "/repos/{owner}/{repo}/pulls", retry_after=4),
            429,
            {"retry-after": "4"},
            "Too many requests",
        ),
    ],
)
def test_faults_answer_once_then_the_real_answer(
    emulator: GitHubEmulator,
    api: httpx.Client,
    clock: FakeClock,
    inject: Callable[[GitHubEmulator], None],
    status: int,
    headers: dict[str, str],
    message: str,
) -> None:
    inject(emulator)
    first = api.get(PULLS)
    assert first.status_code == status and message in first.json()["message"]
    reset = str(int(clock.now().timestamp()) + 90)
    for name, value in headers.items():
        assert first.headers[name] == value.replace("<clock+90>", reset)
    if "retry-after" not in headers:
        assert "retry-after" not in first.headers
    assert api.get(PULLS).status_code == 200


def test_faults_queue_per_route(emulator: GitHubEmulator, api: httpx.Client) -> None:
    emulator.fail_next("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", 502, times=2)
    number = open_pull(emulator, api)["number"]  # other routes are unaffected
    codes = [api.patch(f"{PULLS}/{number}", json={"title": f"t{n}"}).status_code for n in range(3)]
    assert codes == [502, 502, 200] and emulator.pulls[number].title == "t2"
    with pytest.raises(ValueError, match="not an operation"):
        emulator.fail_next("GET", "/repos/{owner}/{repo}/pulls/{number}", 502)  # a typo, not a silent no-op


def test_already_exists_is_github_s_422(emulator: GitHubEmulator, api: httpx.Client) -> None:
    open_pull(emulator, api)
    again = api.post(PULLS, json={"title": "t", "head": "feature", "base": "main"})
    assert again.status_code == 422
    assert again.json()["errors"][0]["message"] == "A pull request already exists for acme:feature."
    emulator.already_exists("other")  # injected: the same answer without a PR behind it
    injected = api.post(PULLS, json={"title": "t", "head": "other", "base": "main"})
    assert injected.status_code == 422
    assert injected.json()["errors"][0]["message"] == "A pull request already exists for acme:other."
    assert list(emulator.pulls) == [1]


# -- pull requests, reviews, comments --------------------------------------------------------------


def test_pull_requests_round_trip(emulator: GitHubEmulator, api: httpx.Client) -> None:
    pr = open_pull(emulator, api, draft=True)
    assert (pr["number"], pr["draft"], pr["head"]["ref"], pr["head"]["sha"]) == (
        1,
        True,
        "feature",
        emulator.default.sha("feature"),
    )
    assert api.get(PULLS, params={"head": "acme:feature"}).json()[0]["number"] == 1
    assert api.get(PULLS, params={"head": "acme:other"}).json() == []
    api.patch(f"{PULLS}/1", json={"state": "closed"})
    assert api.get(PULLS).json() == [] and len(api.get(PULLS, params={"state": "closed"}).json()) == 1
    labels = api.post("/repos/acme/payments/issues/1/labels", json={"labels": ["healer", "severity:high"]}).json()
    assert [label["name"] for label in labels] == ["healer", "severity:high"]


def test_reviews_and_review_comments_are_listed(emulator: GitHubEmulator, api: httpx.Client) -> None:
    open_pull(emulator, api)
    emulator.add_review(1, "CHANGES_REQUESTED", "please add a test")
    emulator.add_review_comment(1, "off by one", "app/calc.py", 3)
    reviews = api.get(f"{PULLS}/1/reviews").json()
    comments = api.get(f"{PULLS}/1/comments").json()
    assert [(r["state"], r["body"], r["commit_id"]) for r in reviews] == [
        ("CHANGES_REQUESTED", "please add a test", emulator.default.sha("feature"))
    ]
    assert [(c["path"], c["line"], c["body"]) for c in comments] == [("app/calc.py", 3, "off by one")]
    assert api.get(f"{PULLS}/9/reviews").status_code == 404


def test_graphql_moves_the_draft_state(emulator: GitHubEmulator, api: httpx.Client) -> None:
    node = open_pull(emulator, api, draft=True)["node_id"]

    def mutate(name: str, node_id: str) -> dict[str, Any]:
        query = f"mutation Mutation($input: {name[0].upper() + name[1:]}Input!) {{ {name}(input: $input) {{ x }} }}"
        answer: dict[str, Any] = api.post(
            "/graphql", json={"query": query, "variables": {"input": {"pullRequestId": node_id}}}
        ).json()
        return answer

    ready = mutate("markPullRequestReadyForReview", node)
    assert ready["data"]["markPullRequestReadyForReview"]["pullRequest"] == {"isDraft": False}
    assert emulator.pulls[1].draft is False
    assert mutate("convertPullRequestToDraft", node)["data"]["convertPullRequestToDraft"]["pullRequest"]["isDraft"]
    assert mutate("convertPullRequestToDraft", "PR_nope")["errors"][0]["type"] == "NOT_FOUND"
    assert mutate("mergePullRequest", node)["errors"][0]["type"] == "UNSUPPORTED"
    actions = [event.action for event in emulator.events if event.name == "pull_request"]
    assert actions == ["opened", "ready_for_review", "converted_to_draft"]


# -- git refs, branches and git over HTTP ----------------------------------------------------------


def test_git_refs_and_branches(emulator: GitHubEmulator, api: httpx.Client) -> None:
    main = emulator.default.sha("main")
    assert main is not None
    refs = "/repos/acme/payments/git/refs"
    created = api.post(refs, json={"ref": "refs/heads/healer/x", "sha": main})
    assert created.status_code == 201 and created.json()["object"]["sha"] == main
    assert (
        api.post(refs, json={"ref": "refs/heads/healer/x", "sha": main}).json()["message"] == "Reference already exists"
    )
    assert api.post(refs, json={"ref": "refs/heads/y", "sha": "f" * 40}).status_code == 422  # no such commit
    matching = api.get("/repos/acme/payments/git/matching-refs/heads/healer").json()
    assert [ref["ref"] for ref in matching] == ["refs/heads/healer/x"]
    assert api.get("/repos/acme/payments/git/ref/heads/healer/x").json()["object"]["sha"] == main
    branch = api.get("/repos/acme/payments/branches/healer/x").json()
    assert (branch["name"], branch["commit"]["sha"]) == ("healer/x", main)
    assert api.get("/repos/acme/payments/branches/nope").status_code == 404

    git(emulator.bare, "branch", "side", "main")
    work = emulator.root / "work"
    git(emulator.root, "clone", "-q", str(emulator.bare), str(work))
    git(work, "checkout", "-q", "side")
    git(work, "commit", "-q", "--allow-empty", "-m", "side")
    git(work, "push", "-q", "origin", "side")
    side = emulator.default.sha("side")
    assert side is not None
    git(work, "checkout", "-q", "--orphan", "unrelated")
    git(work, "commit", "-q", "--allow-empty", "-m", "unrelated")
    git(work, "push", "-q", "origin", "unrelated")
    unrelated = emulator.default.sha("unrelated")
    assert unrelated is not None
    assert api.patch(f"{refs}/heads/healer/x", json={"sha": side}).status_code == 200  # fast-forward
    refused = api.patch(f"{refs}/heads/healer/x", json={"sha": unrelated})
    assert refused.json()["message"] == "Update is not a fast forward"
    assert api.patch(f"{refs}/heads/healer/x", json={"sha": unrelated, "force": True}).status_code == 200
    assert api.delete(f"{refs}/heads/healer/x").status_code == 204
    assert api.get("/repos/acme/payments/git/ref/heads/healer/x").status_code == 404
    moves = [(e.payload["ref"], e.payload["created"], e.payload["deleted"]) for e in emulator.events]
    assert moves == [("refs/heads/healer/x", True, False)] + [("refs/heads/healer/x", False, False)] * 2 + [
        ("refs/heads/healer/x", False, True)
    ]


def _git_env(token: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x"})
    env.update({"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"})
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(
            {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            }
        )
    return env


def _git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("token", "allowed"),
    [
        (TOKEN, True),
        ("ghp_" + "n0" * 18, False),  # a wrong token
        (None, False),  # no credentials at all: git may not prompt, so it fails
    ],
)
def test_git_over_http_needs_the_same_credentials(
    emulator: GitHubEmulator, tmp_path: Path, token: str | None, allowed: bool
) -> None:
    remote = f"{emulator.url}/acme/payments.git"
    listed = _git(tmp_path, _git_env(token), "ls-remote", remote)
    assert (listed.returncode == 0) is allowed
    assert ("refs/heads/main" in listed.stdout) is allowed


def test_a_push_over_http_moves_the_pull_request_head(
    emulator: GitHubEmulator, api: httpx.Client, tmp_path: Path
) -> None:
    open_pull(emulator, api)
    seen: list[Event] = []
    emulator.subscribe(seen.append)
    env = _git_env(TOKEN)
    work = tmp_path / "work"
    assert (
        _git(tmp_path, env, "clone", "-q", "-b", "feature", f"{emulator.url}/acme/payments.git", str(work)).returncode
        == 0
    )
    (work / "CHANGES.md").write_text("a change\n")
    _git(work, env, "add", "CHANGES.md")
    _git(work, env, "commit", "-qm", "change")
    pushed = _git(work, env, "push", "-q", "origin", "feature")
    assert pushed.returncode == 0, pushed.stderr
    head = _git(work, env, "rev-parse", "HEAD").stdout.strip()
    assert emulator.default.sha("feature") == head
    assert api.get(f"{PULLS}/1").json()["head"]["sha"] == head
    assert [(e.name, e.action) for e in seen] == [("push", None), ("pull_request", "synchronize")]
    assert seen[0].payload["after"] == head and seen[1].payload["pull_request"]["head"]["sha"] == head


def test_several_repositories(emulator: GitHubEmulator, api: httpx.Client, tmp_path: Path) -> None:
    other = emulator.add_repo("acme", "ledger", make_calc_repo(tmp_path / "ledger"))
    git(other.bare, "branch", "feature", "main")
    created = api.post("/repos/acme/ledger/pulls", json={"title": "t", "head": "feature", "base": "main"}).json()
    assert created["base"]["repo"]["full_name"] == "acme/ledger" and created["number"] == 1
    assert emulator.pulls == {} and list(other.pulls) == [1]
    listed = _git(tmp_path, _git_env(TOKEN), "ls-remote", f"{emulator.url}/acme/ledger.git")
    assert "refs/heads/feature" in listed.stdout


# -- GitHub App installation tokens ----------------------------------------------------------------


@pytest.fixture
def app_key(emulator: GitHubEmulator) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    emulator.enable_app(4242, public, 77, token_ttl=timedelta(minutes=10))
    return key


def _app_jwt(key: rsa.RSAPrivateKey, issuer: str = "4242") -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": issuer}, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (lambda key: f"Bearer {_app_jwt(key)}", 201),
        (lambda key: f"Bearer {_app_jwt(key, issuer='9999')}", 401),  # another App's id
        (lambda key: f"Bearer {_app_jwt(rsa.generate_private_key(public_exponent=65537, key_size=2048))}", 401),
        (lambda key: f"token {TOKEN}", 401),  # an installation token cannot mint tokens
    ],
)
def test_installation_tokens_need_the_app_s_jwt(
    emulator: GitHubEmulator, app_key: rsa.RSAPrivateKey, authorization: Callable[[Any], str], status: int
) -> None:
    answer = httpx.post(
        f"{emulator.url}/app/installations/77/access_tokens", headers={"Authorization": authorization(app_key)}
    )
    assert answer.status_code == status


def test_installation_tokens_expire_on_the_emulator_clock(
    emulator: GitHubEmulator, app_key: rsa.RSAPrivateKey, clock: FakeClock
) -> None:
    jwt_header = {"Authorization": f"Bearer {_app_jwt(app_key)}"}
    minted = httpx.post(f"{emulator.url}/app/installations/77/access_tokens", headers=jwt_header).json()
    assert minted["expires_at"] == (clock.now() + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    as_installation = {"Authorization": f"token {minted['token']}"}
    assert httpx.get(f"{emulator.url}{PULLS}", headers=as_installation).status_code == 200
    clock.advance(minutes=11)
    assert httpx.get(f"{emulator.url}{PULLS}", headers=as_installation).status_code == 401
    installation = httpx.get(f"{emulator.url}/repos/acme/payments/installation", headers=jwt_header).json()
    assert (installation["id"], installation["app_id"]) == (77, 4242)
