"""The server's own secrets, and secrets printed by code under test, never reach a PR, a commit or the timeline.

One server holds an API token, a GitHub token and a source secret; an incident report repeats
them, an agent's explanation repeats them, and a ``conftest.py`` in the repository prints them
(with a Stripe key) into the test output, as hostile code under test would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from server.commands.serve import build_app
from server.common.redact import hold_secrets
from server.common.settings import Settings
from server.config import HealerConfig, load_config, parse_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.notify.config import load_notify
from server.notify.sender import Sender
from server.notify.signing import generate_secret
from server.review import postmortem
from server.store import Store
from server.store.prs import StorePullRequests
from server.triage.worker import triage_received
from tests.conftest import FakeClock, git, make_repo
from tests.fixer_repo import ADD_FIX, FILES, TEST_COMMAND, diff_for
from tests.receivers import receiver

API_TOKEN = "api-token-7f3c9a1e5b2d4c6e"
GITHUB_TOKEN = "gh-token-without-a-known-shape-91ab"  # only redaction by value can catch it
SOURCE_SECRET = "am-bearer-4e1d9c0b7a3f5e2d"
STRIPE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SECRETS = (API_TOKEN, GITHUB_TOKEN, SOURCE_SECRET, STRIPE_KEY)

# Hostile code under test: prints what it could find into the output that reaches the PR body.
LEAKY_CONFTEST = f"""
def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line("found {API_TOKEN} {GITHUB_TOKEN} {SOURCE_SECRET} {STRIPE_KEY}")
"""


@pytest.fixture
def client(healer_home: Path, store: Store, tmp_path: Path) -> Iterator[TestClient]:
    source = make_repo(tmp_path / "calc", {**FILES, "conftest.py": LEAKY_CONFTEST})
    (healer_home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\nservices = ["calc"]\ntest_command = "{TEST_COMMAND}"\n\n'
        f'[sources.am]\ntype = "alertmanager"\nbearer_token = "{SOURCE_SECRET}"\n'
    )
    settings = Settings(home=healer_home, api_token=SecretStr(API_TOKEN), github_token=SecretStr(GITHUB_TOKEN))
    app = build_app(settings, load_config(healer_home / "healer.toml"), store, run_triage=False)
    with TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"}, base_url="http://127.0.0.1") as test_client:
        test_client.source = source  # type: ignore[attr-defined]
        yield test_client
    hold_secrets([])  # build_app held this server's secrets for the whole process


def assert_no_secret(text: str) -> None:
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"{leaked} in:\n{text}"


def test_a_report_repeating_the_servers_secrets_is_stored_without_them(client: TestClient) -> None:
    report = {"service": "calc", "error": f"auth failed: token={API_TOKEN}", "log": f"using {GITHUB_TOKEN}"}
    iid = client.post("/incidents", json=report).json()["id"]
    incident = client.get(f"/incidents/{iid}").json()
    assert_no_secret(str(incident))
    assert "[REDACTED:server-secret]" in incident["log_excerpt"]


def test_test_output_and_agent_text_reach_the_pr_and_the_commit_redacted(
    client: TestClient, store: Store, healer_home: Path, tmp_path: Path
) -> None:
    iid = client.post("/incidents", json={"service": "calc", "error": "add returned -1 for 2+3"}).json()["id"]
    triage_received(store)
    assert client.post(f"/incidents/{iid}/claim", json={"agent": "kestra"}).status_code == 200
    source: Path = client.source  # type: ignore[attr-defined]
    body = {
        "change": {"diff": diff_for(source, ADD_FIX, tmp_path)},
        "summary": f"add adds (seen with {SOURCE_SECRET})",
        "explanation": f"add subtracted. The server runs with {API_TOKEN} and {GITHUB_TOKEN}.",
        "risk": f"none; key {STRIPE_KEY}",
        "agent": "kestra",
    }
    answer = client.post(f"/incidents/{iid}/fix", json=body)
    assert answer.status_code == 200, answer.text
    pull = StorePullRequests(store).get(answer.json()["pull_request_number"])
    assert pull is not None
    assert "found [REDACTED:server-secret]" in pull.body  # the output is there, the secrets are not
    assert "[REDACTED:stripe-key]" in pull.body
    assert_no_secret(pull.title + pull.body)
    commit = git(healer_home / "forge" / "calc.git", "log", "-1", "--format=%B", f"healer/{iid}")
    assert_no_secret(commit)
    assert_no_secret(client.get(f"/incidents/{iid}/timeline").text)
    assert_no_secret(client.get(f"/incidents/{iid}").text)


@pytest.fixture
def stored_before_held(store: Store) -> Iterator[str]:
    """An escalated incident that quotes a secret the server only holds since (a token set after the report)."""
    report = IncidentIn(service="payments", error=f"login failed for key {GITHUB_TOKEN}", severity="high")
    iid = store.ingest(normalize(report, HealerConfig())).id
    triage_received(store)
    hold_secrets([GITHUB_TOKEN])
    try:
        store.transition(iid, Status.escalated, actor="human:ana", detail={"why": "needs a DBA"})
        yield iid
    finally:
        hold_secrets([])


def test_notifications_go_out_redacted(store: Store, clock: FakeClock, stored_before_held: str) -> None:
    clock.current = datetime.now(UTC)
    with receiver() as hook:
        config = parse_config(
            {
                "notify": {
                    "channels": {
                        "audit": {
                            "type": "webhook",
                            "url": hook.url + "/h",
                            "secret": generate_secret(),
                            "allow_private": True,
                        }
                    }
                }
            }
        )
        assert Sender(store, load_notify(config, {})).run_once() == 1
        (request,) = hook.requests
    assert stored_before_held in request.body.decode()
    assert_no_secret(request.body.decode())


def test_the_postmortem_is_rendered_redacted(store: Store, stored_before_held: str) -> None:
    text = postmortem.require(store, stored_before_held)
    assert "login failed for key [REDACTED:server-secret]" in text
    assert_no_secret(text)
