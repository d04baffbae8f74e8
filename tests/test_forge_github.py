"""GitHubForge through real PyGithub over real HTTP against the GitHub emulator (schema-checked answers)."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github

from fixer.errors import ForgeAuthError, ForgeError, ForgeRateLimited
from fixer.forge import PullRequestDraft, marker
from fixer.forge_github import GitHubForge, app_auth, token_auth
from fixer.models import Change, Edit, FixRequest, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer, FixResult
from fixer.workspace import Workspace
from tests.conftest import FakeClock, git
from tests.fixer_repo import TEST_COMMAND, make_calc_repo
from tests.github_emulator import GitHubEmulator

TOKEN = "ghp_" + "Zq9" * 12  # recognizable, so its absence can be checked everywhere
PULLS = "/repos/{owner}/{repo}/pulls"
PULL = "/repos/{owner}/{repo}/pulls/{pull_number}"
LABELS = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
REPO = "/repos/{owner}/{repo}"
INCIDENT = "INC-20261122-0001"
BRANCH = f"healer/{INCIDENT}"
QUICK: dict[str, Any] = {"seconds_between_requests": 0, "seconds_between_writes": 0}  # no pacing unless tested


@pytest.fixture
def emulator(tmp_path: Path, clock: FakeClock) -> Iterator[GitHubEmulator]:
    source = make_calc_repo(tmp_path / "calc")
    emu = GitHubEmulator(tmp_path / "github", token=TOKEN, clock=clock)
    emu.seed(source)
    emu.start()
    yield emu
    emu.stop()
    assert emu.violations == [], emu.violations  # every answer matched GitHub's schemas


class Sleeps(list[float]):
    """The forge's sleep function: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def forge(
    emu: GitHubEmulator, sleeps: Sleeps | None = None, *, token: str = TOKEN, clock: FakeClock | None = None
) -> GitHubForge:
    return GitHubForge(
        "acme/payments",
        token_auth(token),
        base_url=emu.url,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=(lambda: clock.now().timestamp()) if clock else lambda: 0.0,
        **QUICK,
    )


def draft_for(
    emu: GitHubEmulator, head: str = BRANCH, *, draft: bool = False, body: str | None = None
) -> PullRequestDraft:
    if emu.default.sha(head) is None:
        git(emu.bare, "branch", head, "main")
    return PullRequestDraft(
        title="fix(calc): add adds",
        body=body if body is not None else f"add adds\n\n{marker(INCIDENT)}",
        head=head,
        base="main",
        draft=draft,
        labels=["healer"],
        incident_id=INCIDENT,
    )


class SleepingClock:
    """Epoch time that moves only when the forge sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- the pipeline, end to end ---------------------------------------------------------------------


def request(change: Change, summary: str = "add adds") -> FixRequest:
    return FixRequest(
        incident_id=INCIDENT,
        service="calc",
        severity="high",
        title="add is wrong",
        summary=summary,
        explanation="add subtracted its arguments",
        trace_id="t-1",
        change=change,
    )


def submit(emu: GitHubEmulator, tmp_path: Path, change: Change, github: GitHubForge, **extra: str) -> FixResult:
    spec = RepoSpec(
        name="calc",
        url=f"{emu.url}/acme/payments.git",
        test_command=TEST_COMMAND,
        forge="github",
        github_repo="acme/payments",
        policy=PolicyConfig(verify_before=False),
    )
    return Fixer(Workspace(tmp_path / "ws")).submit(spec, request(change, **extra), github)


ADD = Change(edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b")])
MUL = Change(edits=[Edit(path="app/calc.py", old="return a * b + 1", new="return a * b")])


def test_pipeline_pushes_over_http_then_opens_and_updates_one_pull_request(
    emulator: GitHubEmulator, tmp_path: Path
) -> None:
    github = forge(emulator)
    first = submit(emulator, tmp_path, ADD, github)
    second = submit(emulator, tmp_path, MUL, github, summary="mul multiplies")
    assert first.pull_request.created and not second.pull_request.created
    assert list(emulator.pulls) == [1]
    pr = emulator.pulls[1]
    assert (pr.head, pr.base, pr.labels) == (BRANCH, "main", ["healer", "severity:high"])
    # A review round keeps the title and the first fix's account, and adds the round below it.
    assert pr.title == f"fix(calc): add adds [{INCIDENT}]"
    assert marker(INCIDENT) in str(pr.body)
    # Read back through PyGithub, as a reviewer's tools would see it.
    read = Github(auth=Auth.Token(TOKEN), base_url=emulator.url).get_repo("acme/payments").get_pull(1)
    assert read.title == f"fix(calc): add adds [{INCIDENT}]"
    original, _, rounds = read.body.partition("## Review rounds")
    assert "## Root cause" in original and "`app/calc.py` (+1 -1)" in original
    assert "### Round 1: mul multiplies" in rounds and "#### Verification" in rounds
    assert read.body.count(marker(INCIDENT)) == 1
    # The pushes went through git smart HTTP into the emulator's bare repository: the PR head is real.
    assert git(emulator.bare, "rev-list", "--count", f"main..{BRANCH}").strip() == "2"
    assert second.pull_request.head_sha == emulator.default.sha(BRANCH)
    pushes = [event.payload["ref"] for event in emulator.events if event.name == "push"]
    assert pushes == [f"refs/heads/{BRANCH}", f"refs/heads/{BRANCH}"]


# -- the Forge methods -----------------------------------------------------------------------------


def test_create_then_update_keeps_one_pull_request(emulator: GitHubEmulator) -> None:
    github = forge(emulator)
    created = github.create(draft_for(emulator))
    assert (created.number, created.title, created.head, created.labels) == (
        1,
        "fix(calc): add adds",
        BRANCH,
        ["healer"],
    )
    assert created.incident_id == INCIDENT and created.head_sha == emulator.default.sha(BRANCH)
    assert created.url == f"{emulator.url}/acme/payments/pull/1"
    updated = github.update(1, title="fix(calc): add adds, again", body=f"b2\n{marker(INCIDENT)}", draft=False)
    assert (updated.number, updated.title, updated.body) == (1, "fix(calc): add adds, again", f"b2\n{marker(INCIDENT)}")
    assert list(emulator.pulls) == [1]


@pytest.mark.parametrize(
    ("opened_as_draft", "wanted_draft", "mutations"),
    [
        (True, False, 1),  # verified after all: marked ready for review through GraphQL
        (False, True, 1),  # no longer verified: converted back to a draft
        (True, True, 0),  # already as wanted: no GraphQL call at all
    ],
)
def test_update_moves_the_draft_state(
    emulator: GitHubEmulator, opened_as_draft: bool, wanted_draft: bool, mutations: int
) -> None:
    github = forge(emulator)
    pr = github.create(draft_for(emulator, draft=opened_as_draft))
    assert pr.draft is opened_as_draft
    updated = github.update(pr.number, title=pr.title, body=pr.body, draft=wanted_draft)
    assert updated.draft is wanted_draft and emulator.pulls[1].draft is wanted_draft
    assert sum(1 for method, path, _ in emulator.requests if path == "/graphql") == mutations


def test_find_open_by_head_or_by_marker_and_count_only_bot_pull_requests(emulator: GitHubEmulator) -> None:
    github = forge(emulator)
    assert github.find_open(INCIDENT, BRANCH) is None
    github.create(draft_for(emulator, head="someone/else", body="a person's PR"))
    github.create(draft_for(emulator, head="renamed-branch"))  # the bot's PR, found by its marker
    found = github.find_open(INCIDENT, BRANCH)
    assert found is not None and (found.number, found.head, found.incident_id) == (2, "renamed-branch", INCIDENT)
    by_head = github.find_open("INC-20261122-0099", "someone/else")
    assert by_head is not None and by_head.number == 1
    assert github.count_open_bot_prs() == 1


def test_comment_lands_on_the_pull_request(emulator: GitHubEmulator) -> None:
    github = forge(emulator)
    pr = github.create(draft_for(emulator))
    github.comment(pr.number, f"verification failed\n{marker(INCIDENT)}")
    assert [c.body for c in emulator.pulls[1].comments] == [f"verification failed\n{marker(INCIDENT)}"]
    assert [(e.name, e.action) for e in emulator.events] == [("pull_request", "opened"), ("issue_comment", "created")]


def test_already_exists_returns_the_existing_pull_request(emulator: GitHubEmulator) -> None:
    github = forge(emulator)
    first = github.create(draft_for(emulator))
    again = github.create(draft_for(emulator))  # GitHub answers 422 "A pull request already exists"
    assert again.number == first.number and list(emulator.pulls) == [1]
    assert ("POST", "/repos/acme/payments/pulls", 422) in emulator.requests


def test_already_exists_without_an_open_one_is_an_error(emulator: GitHubEmulator) -> None:
    emulator.already_exists(BRANCH)  # e.g. closed between GitHub's answer and our lookup
    with pytest.raises(ForgeError, match="none is open"):
        forge(emulator).create(draft_for(emulator))


def test_a_422_that_is_not_already_exists_is_an_error(emulator: GitHubEmulator) -> None:
    draft = PullRequestDraft(title="t", body="b", head="no-such-branch", base="main", incident_id=INCIDENT)
    with pytest.raises(ForgeError, match="422") as caught:
        forge(emulator).create(draft)
    assert not isinstance(caught.value, ForgeRateLimited | ForgeAuthError)


# -- retries and waiting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template", "status", "times"),
    [
        ("POST", PULLS, 502, 1),  # opening the PR
        ("POST", PULLS, 500, 2),
        ("POST", LABELS, 502, 1),  # labelling it
        ("GET", PULL, 503, 2),  # reading it back
        ("PATCH", PULL, 502, 2),  # PyGithub's own retry skips PATCH; ours does not
        ("POST", COMMENTS, 502, 1),
        ("GET", REPO, 502, 3),
    ],
)
def test_5xx_is_retried_with_backoff(
    emulator: GitHubEmulator, method: str, template: str, status: int, times: int
) -> None:
    sleeps = Sleeps()
    github = forge(emulator, sleeps)
    emulator.fail_next(method, template, status, times=times)
    pr = github.create(draft_for(emulator))
    updated = github.update(pr.number, title="new title", body=pr.body, draft=False)
    github.comment(pr.number, "c")
    assert updated.title == "new title" and emulator.pulls[1].comments[0].body == "c"
    assert len(sleeps) == times and all(0 <= wait <= 60 for wait in sleeps)
    answered = [code for verb, path, code in emulator.requests if verb == method and code >= 500]
    assert answered == [status] * times


@pytest.mark.parametrize(
    ("inject", "wait"),
    [
        (lambda emu: emu.secondary_rate_limit("GET", PULLS, retry_after=7), 7.0),  # GitHub says how long
        (lambda emu: emu.secondary_rate_limit("GET", PULLS), 60.0),  # no Retry-After: at least a minute
        (lambda emu: emu.primary_rate_limit("GET", PULLS, resets_in=120), 121.0),  # until X-RateLimit-Reset
        (lambda emu: emu.primary_rate_limit("GET", PULLS, resets_in=30, status=429), 31.0),
        (lambda emu: emu.too_many_requests("GET", PULLS, retry_after=3), 3.0),
        (lambda emu: emu.too_many_requests("GET", PULLS), 60.0),
    ],
)
def test_rate_limits_are_waited_out(emulator: GitHubEmulator, clock: FakeClock, inject: Any, wait: float) -> None:
    sleeps = Sleeps()
    github = forge(emulator, sleeps, clock=clock)
    github.create(draft_for(emulator))
    inject(emulator)
    found = github.find_open(INCIDENT, BRANCH)
    assert found is not None and found.number == 1
    assert sleeps == [wait]


def test_requests_and_writes_are_paced_with_the_injected_sleep(emulator: GitHubEmulator) -> None:
    clock = SleepingClock(1000.0)
    github = GitHubForge(
        "acme/payments",
        token_auth(TOKEN),
        base_url=emulator.url,
        sleep=clock.sleep,
        clock=clock.time,
        seconds_between_requests=0.25,
        seconds_between_writes=1.0,
    )
    pr = github.create(draft_for(emulator))  # read the repo; open (write); label (write); read back
    github.comment(pr.number, "c")  # read the PR; comment (write)
    # Every request 0.25 s after the one before; the three writes (at 1000.25, 1001.25, 1002.25) 1 s apart.
    assert clock.slept == [0.25, 1.0, 0.25, 0.25, 0.5]


def test_secondary_rate_limit_on_a_write_is_waited_out(emulator: GitHubEmulator) -> None:
    sleeps = Sleeps()
    github = forge(emulator, sleeps)
    emulator.secondary_rate_limit("POST", PULLS, retry_after=5)
    assert github.create(draft_for(emulator)).number == 1
    assert sleeps == [5.0] and len(emulator.pulls) == 1


@pytest.mark.parametrize(
    ("inject", "error", "message"),
    [
        (lambda emu: emu.fail_next("GET", PULLS, 502, times=5), ForgeError, "502 .* after 5 attempts"),
        (lambda emu: emu.fail_next("GET", PULLS, 403), ForgeAuthError, "denied permission"),  # not a rate limit
        (lambda emu: emu.primary_rate_limit("GET", PULLS, resets_in=3600), ForgeRateLimited, "retry in 3601s"),
        (lambda emu: emu.secondary_rate_limit("GET", PULLS, retry_after=9, times=5), ForgeRateLimited, "rate-limited"),
        (lambda emu: emu.fail_next("GET", PULLS, 404), ForgeError, "404"),
    ],
)
def test_failures_become_the_fixer_error_tree(
    emulator: GitHubEmulator, clock: FakeClock, inject: Any, error: type[ForgeError], message: str
) -> None:
    github = forge(emulator, clock=clock)
    inject(emulator)
    with pytest.raises(error, match=message) as caught:
        github.find_open(INCIDENT, BRANCH)
    assert type(caught.value) is error and TOKEN not in str(caught.value)
    if isinstance(caught.value, ForgeRateLimited):
        assert caught.value.retry_after in (3601.0, 9.0)


def test_bad_credentials_are_a_permanent_auth_error(emulator: GitHubEmulator) -> None:
    wrong = "ghp_" + "Wr0ng" * 8
    with pytest.raises(ForgeAuthError, match="refused the credentials") as caught:
        forge(emulator, token=wrong).find_open(INCIDENT, BRANCH)
    assert caught.value.permanent and wrong not in str(caught.value) and "ghp_" not in str(caught.value)


def test_an_unreachable_github_is_retried_then_an_error(emulator: GitHubEmulator, tmp_path: Path) -> None:
    sleeps = Sleeps()
    github = GitHubForge("acme/payments", token_auth(TOKEN), base_url=emulator.url, sleep=sleeps, attempts=3, **QUICK)
    emulator.stop()  # nothing listens there any more
    with pytest.raises(ForgeError, match=r"could not reach GitHub .* after 3 attempts") as caught:
        github.find_open(INCIDENT, BRANCH)
    assert len(sleeps) == 2 and TOKEN not in str(caught.value)


# -- credentials, remotes and GitHub Enterprise ----------------------------------------------------


def test_remote_url_and_git_auth_env_push_over_smart_http(emulator: GitHubEmulator, tmp_path: Path) -> None:
    github = forge(emulator)
    remote = github.remote_url()
    assert remote == f"{emulator.url}/acme/payments.git" and TOKEN not in remote and "@" not in remote
    env = github.git_auth_env()
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert (
        env["GIT_CONFIG_VALUE_0"]
        == "Authorization: Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    )
    work = tmp_path / "clone"
    git_env = {**os.environ, **env, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b"}
    git_env["GIT_COMMITTER_EMAIL"] = "b@x"
    run = _runner(git_env)
    run(tmp_path, "clone", "-q", remote, str(work))
    (work / "NOTES.md").write_text("pushed over http\n")
    run(work, "add", "NOTES.md")
    run(work, "commit", "-qm", "notes")
    run(work, "push", "-q", "origin", "HEAD:refs/heads/healer/notes")
    assert emulator.default.sha("healer/notes") == run(work, "rev-parse", "HEAD").strip()
    assert TOKEN not in (work / ".git" / "config").read_text()
    no_credentials = {k: v for k, v in git_env.items() if not k.startswith("GIT_CONFIG")}
    with pytest.raises(AssertionError, match="exit 128"):
        _runner(no_credentials)(work, "push", "-q", "origin", "HEAD:refs/heads/healer/other")


def _runner(env: dict[str, str]) -> Any:
    def run(cwd: Path, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"git {args[0]}: exit {done.returncode}: {done.stderr}"
        return done.stdout

    return run


def test_github_enterprise_base_url(emulator: GitHubEmulator) -> None:
    github = GitHubForge("acme/payments", token_auth(TOKEN), base_url=emulator.enterprise_url, sleep=Sleeps(), **QUICK)
    assert github.remote_url() == f"{emulator.url}/acme/payments.git"
    pr = github.create(draft_for(emulator, draft=True))
    github.update(pr.number, title=pr.title, body=pr.body, draft=False)  # GraphQL at /api/graphql on GHES
    assert emulator.pulls[1].draft is False
    paths = {path for _, path, _ in emulator.requests}
    assert "/api/v3/repos/acme/payments/pulls" in paths and "/api/graphql" in paths
    assert not any(path.startswith("/repos/") for path in paths)


def _app_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode(), public


@pytest.mark.parametrize(
    ("ttl", "refreshed"),
    [
        (timedelta(hours=1), False),  # a fresh token is reused for every call and the push
        (timedelta(seconds=10), True),  # inside PyGithub's 20 s margin: replaced before each use
    ],
)
def test_github_app_installation_token_is_refreshed_near_expiry(
    emulator: GitHubEmulator, clock: FakeClock, tmp_path: Path, ttl: timedelta, refreshed: bool
) -> None:
    clock.current = datetime.now(UTC)  # PyGithub judges expiry by the real clock
    pem, public = _app_key()
    emulator.enable_app(4242, public, 77, token_ttl=ttl)
    github = GitHubForge("acme/payments", app_auth(4242, pem, 77), base_url=emulator.url, sleep=Sleeps(), **QUICK)
    first = github.git_auth_env()
    assert github.find_open(INCIDENT, BRANCH) is None
    assert github.count_open_bot_prs() == 0
    second = github.git_auth_env()
    assert emulator.app is not None
    tokens = [token for token, _ in emulator.app.issued]
    assert (len(tokens) > 1) is refreshed and (first != second) is refreshed
    assert all(token not in str(second) for token in tokens)  # base64 in a header, never the raw token
    run = _runner({**os.environ, **second})
    run(tmp_path, "ls-remote", github.remote_url())  # the newest token opens git over HTTP too


def test_minting_an_installation_token_is_retried(emulator: GitHubEmulator, clock: FakeClock) -> None:
    clock.current = datetime.now(UTC)
    pem, public = _app_key()
    emulator.enable_app(4242, public, 77, token_ttl=timedelta(hours=1))
    sleeps = Sleeps()
    github = GitHubForge("acme/payments", app_auth(4242, pem, 77), base_url=emulator.url, sleep=sleeps, **QUICK)
    emulator.fail_next("POST", "/app/installations/{installation_id}/access_tokens", 502)
    assert github.git_auth_env()["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert len(sleeps) == 1 and emulator.app is not None and len(emulator.app.issued) == 1


def test_a_token_github_holds_expired_is_an_auth_error(emulator: GitHubEmulator, clock: FakeClock) -> None:
    clock.current = datetime.now(UTC)  # PyGithub judges expiry by the real clock
    pem, public = _app_key()
    emulator.enable_app(4242, public, 77, token_ttl=timedelta(hours=1))
    github = GitHubForge("acme/payments", app_auth(4242, pem, 77), base_url=emulator.url, sleep=Sleeps(), **QUICK)
    assert github.count_open_bot_prs() == 0
    clock.advance(hours=2)  # GitHub's clock passes the expiry; the held token no longer works
    with pytest.raises(ForgeAuthError, match="refused the credentials") as caught:
        github.count_open_bot_prs()
    assert emulator.app is not None and all(token not in str(caught.value) for token, _ in emulator.app.issued)


# -- secrets ---------------------------------------------------------------------------------------


def test_the_token_appears_nowhere(emulator: GitHubEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    github = forge(emulator, sleeps)
    emulator.fail_next("POST", PULLS, 502)  # retries log too
    result = submit(emulator, tmp_path, ADD, github)
    assert result.pull_request.created and len(sleeps) == 1
    pr = emulator.pulls[1]
    assert TOKEN not in str(pr.body) and TOKEN not in pr.title
    assert TOKEN not in git(emulator.bare, "log", "--format=%B", BRANCH)
    files = [path for path in (tmp_path / "ws").rglob("*") if path.is_file()]
    assert any(path.name == "config" for path in files)  # git's config files are among those checked
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
        assert base64.b64encode(f"x-access-token:{TOKEN}".encode()) not in path.read_bytes(), path
    assert caplog.records and all(TOKEN not in record.getMessage() for record in caplog.records)


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({}, "needs GITHUB_TOKEN"),  # no credentials at all
        ({"HEALER_GITHUB_APP_ID": "4242"}, "HEALER_GITHUB_APP_PRIVATE_KEY"),  # an App id without its key
        (
            {"HEALER_GITHUB_APP_ID": "4242", "HEALER_GITHUB_APP_PRIVATE_KEY": "-----BEGIN x-----"},
            "HEALER_GITHUB_APP_INSTALLATION_ID",  # an App without its installation
        ),
    ],
)
def test_missing_github_credentials_are_an_auth_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], error: str
) -> None:
    from server.common.settings import Settings
    from server.config import RepoConfig
    from server.fixing.forges import github_forge_for

    for name in ("GITHUB_TOKEN", "HEALER_GITHUB_TOKEN", "HEALER_GITHUB_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    repo = RepoConfig(
        name="payments", url="https://github.com/acme/payments.git", forge="github", github_repo="acme/payments"
    )
    with pytest.raises(ForgeAuthError, match=error):
        github_forge_for(repo, Settings(home=tmp_path))


def test_the_forge_is_built_from_the_process_settings(
    emulator: GitHubEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from server.common.settings import Settings
    from server.config import RepoConfig
    from server.fixing.forges import github_forge_for

    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("HEALER_GITHUB_URL", emulator.enterprise_url)
    monkeypatch.setenv("HEALER_GITHUB_SECONDS_BETWEEN_REQUESTS", "0.5")
    monkeypatch.setenv("HEALER_GITHUB_SECONDS_BETWEEN_WRITES", "2")
    repo = RepoConfig(
        name="payments", url="https://github.com/acme/payments.git", forge="github", github_repo="acme/payments"
    )
    github = github_forge_for(repo, Settings(home=tmp_path))
    assert (github.repo_name, github.seconds_between_requests, github.seconds_between_writes) == (
        "acme/payments",
        0.5,
        2.0,
    )
    assert github.remote_url() == f"{emulator.url}/acme/payments.git"  # the token and the Enterprise URL reached GitHub
