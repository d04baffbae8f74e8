"""Approvals bound to a person: [people.*] tokens over REST, `healer approve --as` as a real process,
`healer people add`, and refusals for the shared API token, agents, and a person's own change."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fixer.models import Change, Edit
from server.approvals.people import Verification, load_people, password_hash
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import HealerConfig, load_config, parse_config
from server.errors import ConfigError
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import HEALER, as_person, healer_env, person_toml
from tests.fixer_repo import TEST_COMMAND, make_calc_repo

API_TOKEN = "shared-api-token-for-tests"
ANA = "ana-person-token-for-tests"
BOB = "bob-person-token-for-tests"
ROUTING = """
[routing.approval]
users = ["ana", "bob"]

[[routing.rules]]
name = "billing needs a yes"
match = ['service="billing"']
route = "approval"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    repo = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{repo}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc", "billing"]\n'
        + ROUTING
        + person_toml("ana", ANA)
        + person_toml("bob", BOB)
    )
    return home


@pytest.fixture
def config(home: Path) -> HealerConfig:
    return load_config(home / "healer.toml")


@pytest.fixture
def client(home: Path, config: HealerConfig, store: Store) -> Iterator[TestClient]:
    settings = Settings(home=home, api_token=API_TOKEN)
    with TestClient(build_app(settings, config, store, run_triage=False), base_url="http://127.0.0.1") as test_client:
        yield test_client


def report(store: Store, config: HealerConfig, service: str = "billing") -> str:
    incident_id = store.ingest(normalize(IncidentIn(service=service, error="refund doubled"), config)).id
    rules = Triage(config)
    triage_received(store, rules.decide, approval=rules.approval)
    return incident_id


SHARED = {"authorization": f"Bearer {API_TOKEN}"}


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("approve", {"approver": "ana", "reason": "looks fine"}),  # the shared token naming an approver
        ("approve", {}),
        ("deny", {"approver": "ana"}),  # denying is answering too
    ],
)
def test_the_shared_api_token_can_ask_but_never_answer(
    client: TestClient, store: Store, config: HealerConfig, route: str, body: dict[str, str]
) -> None:
    incident_id = report(store, config)
    refused = client.post(f"/incidents/{incident_id}/{route}", json=body, headers=SHARED)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["type"] == "PersonRequired"
    assert "shared API token" in error["message"] and "[people.<login>]" in error["message"]
    assert "healer people add" in error["message"]
    assert store.get(incident_id).status == Status.awaiting_approval
    assert client.get(f"/incidents/{incident_id}/approvals", headers=SHARED).json()[0]["decision"] is None


def test_an_open_install_needs_a_person_token_to_approve(home: Path, config: HealerConfig, store: Store) -> None:
    """No API token (loopback): anyone may report and read, but a name in the body approves nothing."""
    with TestClient(
        build_app(Settings(home=home), config, store, run_triage=False), base_url="http://127.0.0.1"
    ) as client:
        incident_id = report(store, config)
        refused = client.post(f"/incidents/{incident_id}/approve", json={"approver": "ana"})
        assert refused.status_code == 403 and "no person's token was sent" in refused.json()["error"]["message"]
        made_up = client.post(f"/incidents/{incident_id}/approve", json={}, headers=as_person("not-a-token"))
        assert made_up.status_code == 403 and "no person configured" in made_up.json()["error"]["message"]
        assert store.get(incident_id).status == Status.awaiting_approval
        approved = client.post(f"/incidents/{incident_id}/approve", json={"reason": "go"}, headers=as_person(ANA))
        assert approved.status_code == 200, approved.text


def test_a_person_token_approves_and_the_timeline_says_who_and_how(
    client: TestClient, store: Store, config: HealerConfig
) -> None:
    incident_id = report(store, config)
    # A person's token opens the API like the shared one does.
    assert client.get(f"/incidents/{incident_id}", headers=as_person(ANA)).status_code == 200
    answered = client.post(f"/incidents/{incident_id}/approve", json={"reason": "go"}, headers=as_person(ANA))
    assert answered.status_code == 200, answered.text
    assert answered.json()["decision"]["status"] == "pending"
    approved = next(e for e in store.timeline(incident_id) if e.event == "approved")
    assert approved.actor == "human:ana"
    assert (approved.detail["by"], approved.detail["verified_by"], approved.detail["reason"]) == ("ana", "token", "go")


def test_a_person_cannot_approve_a_fix_they_submitted(client: TestClient, store: Store, config: HealerConfig) -> None:
    incident_id = report(store, config, service="calc")  # straight to the agents
    claim = client.post(f"/incidents/{incident_id}/claim", json={"agent": "anas-script"}, headers=as_person(ANA))
    assert claim.status_code == 200, claim.text
    change = {"edits": [{"path": "app/auth/tokens.py", "create": "TTL = 60\n"}]}
    held = client.post(
        f"/incidents/{incident_id}/fix",
        json={"agent": "anas-script", "change": change, "summary": "token ttl", "explanation": "tokens expire early"},
        headers=as_person(ANA),
    )
    assert held.status_code == 200 and held.json()["held_for_approval"], held.text
    own = client.post(f"/incidents/{incident_id}/approve", json={}, headers=as_person(ANA))
    assert own.status_code == 403 and "ana submitted this change" in own.json()["error"]["message"]
    assert store.get(incident_id).status == Status.awaiting_approval
    other = client.post(f"/incidents/{incident_id}/approve", json={}, headers=as_person(BOB))
    assert other.status_code == 200, other.text
    assert other.json()["fix"]["status"] == "pr_open"


def test_an_agent_named_like_a_person_cannot_have_that_person_approve(store: Store, config: HealerConfig) -> None:
    """A fix an agent called "ana" asked for is ana's own: she may not approve it (nor may the agent)."""
    from fixer.models import Change, Edit
    from server.approvals.answers import answer_as
    from server.errors import Forbidden
    from server.fixing.models import FixSubmission
    from server.fixing.submit import FixService

    incident_id = report(store, config, service="calc")
    store.claim(incident_id, agent="ana")
    settings = Settings(home=Path(str(config.source_file)).parent)
    change = Change(edits=[Edit(path="app/auth/tokens.py", create="TTL = 60\n")])
    FixService(store, config, settings).submit(
        incident_id, FixSubmission(change=change, summary="ttl", explanation="tokens expire early"), agent="ana"
    )
    people = load_people(config)
    with pytest.raises(Forbidden, match="requested this change"):
        answer_as(store, config, settings, incident_id, people.person("ana", Verification.token), approve=True)


def test_the_mcp_face_has_no_tool_that_answers_an_approval(home: Path, config: HealerConfig, store: Store) -> None:
    import asyncio

    from tools.runtime import Runtime
    from tools.server import build_server

    server = build_server(Runtime(Settings(home=home), config=config, store=store))
    names = [tool.name for tool in asyncio.run(server.list_tools())]
    assert names and not [name for name in names if "approv" in name or "deny" in name]


# -- the command line ------------------------------------------------------------------------------


def cli_report(home: Path) -> str:
    config = load_config(home / "healer.toml")
    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    try:
        return report(store, config)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("token", "refusal"),
    [
        (None, "no person token"),  # no token and no terminal to ask on
        ("made-up", "not ana's person token"),
        (BOB, "not ana's person token"),  # bob's token does not make him ana
    ],
)
def test_healer_approve_refuses_without_the_persons_token(home: Path, token: str | None, refusal: str) -> None:
    incident_id = cli_report(home)
    env = healer_env(home, **({"HEALER_PERSON_TOKEN": token} if token else {}))
    done = subprocess.run(
        [HEALER, "approve", incident_id, "--as", "ana"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2 and refusal in done.stderr, done.stderr
    assert token is None or token not in done.stderr  # a token is never echoed back
    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    assert store.get(incident_id).status == Status.awaiting_approval
    store.close()


def test_healer_approve_as_a_person_with_their_token(home: Path) -> None:
    incident_id = cli_report(home)
    env = healer_env(home, HEALER_PERSON_TOKEN=ANA)
    done = subprocess.run(
        [HEALER, "approve", incident_id, "--as", "ana", "--reason", "on call says go"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert f"{incident_id}: approved by ana; now pending" in done.stdout
    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    approved = next(e for e in store.timeline(incident_id) if e.event == "approved")
    store.close()
    assert (approved.actor, approved.detail["verified_by"]) == ("human:ana", "cli_token")


@pytest.mark.parametrize(
    ("max_attempts", "after", "of"),
    [
        ({}, Status.pending, 3),  # the default budget: one failed run sends the incident back to the queue
        ({"HEALER_MAX_ATTEMPTS": "1"}, Status.dead_letter, 1),  # a budget of one: that run spends it
    ],
)
def test_healer_approve_runs_the_held_fix_within_healer_max_attempts(
    home: Path, tmp_path: Path, max_attempts: dict[str, str], after: Status, of: int
) -> None:
    # Regression: `healer approve` opened the store without HEALER_MAX_ATTEMPTS, so the fix it ran had 3.
    config = load_config(home / "healer.toml")
    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    incident_id = store.ingest(normalize(IncidentIn(service="calc", error="boom", severity="high"), config)).id
    store.transition(incident_id, Status.pending, actor="system")
    store.claim(incident_id, agent="cline")
    change = Change(edits=[Edit(path="app/auth/a.py", create="A = 1\n")])  # auth: held for a person
    held = FixService(store, config, Settings(home=home)).submit(
        incident_id, FixSubmission(change=change, summary="set A", explanation="A needs a value"), agent="cline"
    )
    store.close()
    assert held.held_for_approval
    shutil.rmtree(tmp_path / "calc")  # the approved run fails, as a transient failure: the source is gone
    env = healer_env(home, HEALER_PERSON_TOKEN=ANA, **max_attempts)
    done = subprocess.run(
        [HEALER, "approve", incident_id, "--as", "ana"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    # A failed run is said in one line, not as a traceback.
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"{incident_id}: answered by ana, but the released fix failed" in done.stderr
    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    failed = [e for e in store.timeline(incident_id) if e.event in ("fix_failed", "dead_lettered")][-1]
    status = store.get(incident_id).status
    store.close()
    assert (status, failed.detail["attempt"], failed.detail["of"]) == (after, 1, of)


def test_healer_people_add_prints_a_token_whose_lines_configure_the_person(tmp_path: Path) -> None:
    done = subprocess.run(
        [HEALER, "people", "add", "carol", "--password"],
        input="correct horse battery staple\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.split("\n\n")[1].strip()
    table = done.stdout[done.stdout.index("[people.carol]") :]
    config = parse_config(json.loads(json.dumps(__import__("tomllib").loads(table))))
    people = load_people(config)
    assert people.by_token(token) is not None and people.by_token(token + "x") is None
    assert people.sign_in("carol", "correct horse battery staple") is not None
    assert people.sign_in("carol", "wrong horse") is None
    assert "correct horse" not in done.stdout  # the password itself is never printed


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"ana": {}}, "people.ana"),  # no credential at all
        ({"ana": {"token_sha256": "abc"}}, "people.ana.token_sha256"),  # not a SHA-256 in hex
        ({"ana": {"password_hash": "hunter2"}}, "people.ana"),  # a password in the clear, not a hash
        ({"ana": {"token_sha256": "0" * 64, "role": "admin"}}, "people.ana.role"),  # unknown key
        ({"-rf": {"token_sha256": "0" * 64}}, "people.-rf"),
    ],
)
def test_a_wrong_people_table_names_its_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_people(parse_config({"people": table}))
    assert f": {key}:" in caught.value.message or caught.value.message.startswith(f"healer.toml: {key}")


def test_a_password_hash_is_salted_and_checked() -> None:
    first, second = password_hash("same password"), password_hash("same password")
    assert first != second and first.startswith("scrypt$")
    config = parse_config({"people": {"ana": {"password_hash": first}}})
    assert load_people(config).sign_in("ANA", "same password") is not None  # logins are case-insensitive


def test_healer_people_revoke_ends_every_session_of_that_person(home: Path) -> None:
    from datetime import timedelta

    from server.store.sessions import find_session, open_session

    store = Store.open(f"sqlite:///{home / 'healer.db'}")
    for session_id, name in (("one", "ana"), ("two", "ana"), ("three", "bob")):
        open_session(
            store, session_id, name=name, verified_by="dashboard_session", stamp=None, lifetime=timedelta(hours=1)
        )
    done = subprocess.run(
        [HEALER, "people", "revoke", "ana"], env=healer_env(home), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "ended 2 dashboard session(s) of ana" in done.stdout, done.stderr
    assert (find_session(store, "one"), find_session(store, "two")) == (None, None)
    assert find_session(store, "three") is not None  # bob stays signed in
    store.close()
