"""GitHubForge through real PyGithub over real HTTP against the GitHub emulator (schema-checked answers)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fixer.errors import ForgeAuthError
from fixer.forge import PullRequestDraft
from fixer.forge_github import GitHubForge, app_auth, token_auth
from fixer.models import Change, Edit, FixRequest, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from tests.conftest import git
from tests.fixer_repo import TEST_COMMAND, make_calc_repo
from tests.github_emulator import GitHubEmulator

TOKEN = "ghp_" + "Zq9" * 12  # recognizable, so its absence can be checked everywhere
PULLS = "/repos/{owner}/{repo}/pulls"
PULL = "/repos/{owner}/{repo}/pulls/{pull_number}"


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GitHubEmulator]:
    source = make_calc_repo(tmp_path / "calc")
    emu = GitHubEmulator(tmp_path / "github", token=TOKEN)
    emu.seed(source)
    emu.start()
    yield emu
    emu.stop()
    assert emu.violations == [], emu.violations  # every answer matched GitHub's schemas


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def forge(emu: GitHubEmulator, sleeps: Sleeps | None = None, token: str = TOKEN) -> GitHubForge:
    return GitHubForge(
        "acme/payments",
        token_auth(token),
        base_url=emu.url,
        sleep=sleeps if sleeps is not None else Sleeps(),
        seconds_between_writes=0,
    )


def request(change: Change, summary: str = "add adds") -> FixRequest:
    return FixRequest(
        incident_id="INC-20261122-0001",
        service="calc",
        severity="high",
        title="add is wrong",
        summary=summary,
        explanation="add subtracted its arguments",
        trace_id="t-1",
        change=change,
    )


def submit(emu: GitHubEmulator, tmp_path: Path, change: Change, **extra: str) -> object:
    spec = RepoSpec(
        name="calc",
        url=f"{emu.url}/acme/payments.git",
        test_command=TEST_COMMAND,
        forge="github",
        github_repo="acme/payments",
        policy=PolicyConfig(verify_before=False),
    )
    return Fixer(Workspace(tmp_path / "ws")).submit(spec, request(change, **extra), forge(emu))


ADD = Change(edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b")])
MUL = Change(edits=[Edit(path="app/calc.py", old="return a * b + 1", new="return a * b")])


def test_pipeline_opens_then_updates_one_pull_request(emulator: GitHubEmulator, tmp_path: Path) -> None:
    first = submit(emulator, tmp_path, ADD)
    second = submit(emulator, tmp_path, MUL, summary="mul multiplies")
    assert first.pull_request.created and not second.pull_request.created  # type: ignore[attr-defined]
    assert list(emulator.pulls) == [1]
    pr = emulator.pulls[1]
    assert pr.head == "healer/INC-20261122-0001" and pr.labels == ["healer", "severity:high"]
    assert pr.title == "fix(calc): mul multiplies [INC-20261122-0001]"
    assert "<!-- healer:incident=INC-20261122-0001 -->" in str(pr.body)
    assert git(emulator.bare, "rev-list", "--count", "main..healer/INC-20261122-0001").strip() == "2"


def test_5xx_is_retried_also_on_patch(emulator: GitHubEmulator, tmp_path: Path) -> None:
    sleeps = Sleeps()
    github = forge(emulator, sleeps)
    emulator.fail_next("POST", PULLS, 502)
    git(emulator.bare, "branch", "feature", "main")
    draft = PullRequestDraft(title="t", body="b", head="feature", base="main", incident_id="INC-20261122-0001")
    pr = github.create(draft)
    emulator.fail_next("PATCH", PULL, 502, times=2)
    updated = github.update(pr.number, title="new title", body="b2", draft=False)
    assert updated.title == "new title" and len(sleeps) == 3
    assert [s for m, p, s in emulator.requests if m == "PATCH"] == [502, 502, 200]


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"Retry-After": "7"}, 7.0),  # GitHub says how long
        ({}, 60.0),  # a secondary limit without Retry-After: at least a minute
    ],
)
def test_secondary_rate_limit_waits(emulator: GitHubEmulator, headers: dict[str, str], wait: float) -> None:
    sleeps = Sleeps()
    github = forge(emulator, sleeps)
    body = {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        "documentation_url": "https://docs.github.com/rest",
    }
    emulator.fail_next("GET", PULLS, 403, headers=headers, body=body)
    assert github.find_open("INC-20261122-0001", "nothing") is None
    assert sleeps == [wait]


def test_already_exists_returns_the_existing_pull_request(emulator: GitHubEmulator) -> None:
    github = forge(emulator)
    git(emulator.bare, "branch", "healer/INC-20261122-0005", "main")
    draft = PullRequestDraft(
        title="t", body="b", head="healer/INC-20261122-0005", base="main", incident_id="INC-20261122-0005"
    )
    first = github.create(draft)
    again = github.create(draft)  # GitHub answers 422 "already exists"
    assert again.number == first.number and len(emulator.pulls) == 1
    assert ("POST", "/repos/acme/payments/pulls", 422) in emulator.requests


def test_github_app_installation_token_is_refreshed(emulator: GitHubEmulator) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    emulator.enable_app(4242, public, 77, token_ttl=timedelta(seconds=10))  # inside PyGithub's 20 s margin
    github = GitHubForge(
        "acme/payments", app_auth(4242, pem.decode(), 77), base_url=emulator.url, seconds_between_writes=0
    )
    assert github.find_open("INC-20261122-0001", "x") is None
    assert github.count_open_bot_prs() == 0
    assert emulator.app is not None and len(emulator.app.issued) >= 2  # a near-expiry token was replaced
    env = github.git_auth_env()
    assert emulator.app.issued[-1][0] not in str(env["GIT_CONFIG_VALUE_0"])  # base64, not the raw token


def test_the_token_appears_nowhere(emulator: GitHubEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = submit(emulator, tmp_path, ADD)
    pr = emulator.pulls[1]
    assert TOKEN not in str(pr.body) and TOKEN not in pr.title
    assert TOKEN not in git(emulator.bare, "log", "--format=%B", "healer/INC-20261122-0001")
    for path in (tmp_path / "ws").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    with pytest.raises(ForgeAuthError) as caught:
        forge(emulator, token="ghp_" + "x" * 36).find_open("INC-20261122-0001", "b")
    assert "ghp_" not in str(caught.value)
    assert result is not None
