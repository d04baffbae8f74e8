"""The dead-letter queue and denials: REST, the `healer dlq` CLI as a real process, and the queue around them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fixer.errors import ForgeAuthError
from fixer.models import Change, Edit
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import HEALER, FakeClock, as_person, healer_env, person_toml
from tests.fixer_repo import TEST_COMMAND, make_calc_repo
from tests.github_emulator import GitHubEmulator

ROUTING = """
[routing.approval]
users = ["ana"]

[[routing.rules]]
name = "billing needs a yes"
match = ['service="billing"']
route = "approval"
"""

ANA = "ana-person-token-for-tests"
BOB = "bob-person-token-for-tests"
ROUTING += person_toml("ana", ANA) + person_toml("bob", BOB)

FAILURES = ["tests still red", "could not reproduce", "the pool fix did not hold"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    repo = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{repo}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc", "billing"]\n' + ROUTING
    )
    return home


@pytest.fixture
def config(home: Path) -> HealerConfig:
    return load_config(home / "healer.toml")


@pytest.fixture
def client(home: Path, config: HealerConfig, store: Store) -> Iterator[TestClient]:
    with TestClient(
        build_app(Settings(home=home), config, store, run_triage=False), base_url="http://127.0.0.1"
    ) as test_client:
        yield test_client


def report(store: Store, config: HealerConfig, service: str = "calc", error: str = "boom") -> str:
    """An incident, triaged as the server's worker would."""
    new = normalize(IncidentIn(service=service, error=error, severity="high"), config)
    incident_id = store.ingest(new).id
    rules = Triage(config)
    triage_received(store, rules.decide, approval=rules.approval)
    return incident_id


def dead_letter(store: Store, clock: FakeClock, incident_id: str) -> None:
    """Three failed attempts (the store's budget), each after the previous one's backoff."""
    for notes in FAILURES:
        store.claim(incident_id, agent="cline")
        store.report_fix(incident_id, agent="cline", outcome="failed", notes=notes)
        clock.advance(hours=2)
    assert store.get(incident_id).status == Status.dead_letter


# -- deny ------------------------------------------------------------------------------------------


def test_deny_escalates_and_writes_who_and_why_on_the_timeline(
    client: TestClient, store: Store, config: HealerConfig
) -> None:
    incident_id = report(store, config, service="billing")
    assert store.get(incident_id).status == Status.awaiting_approval
    answer = client.post(
        f"/incidents/{incident_id}/deny", json={"reason": "not during the freeze"}, headers=as_person(ANA)
    )
    assert answer.status_code == 200, answer.text
    decision = answer.json()["decision"]
    assert (decision["outcome"], decision["status"]) == ("denied", "escalated")
    assert answer.json()["fix"] is None
    assert client.get(f"/incidents/{incident_id}").json()["status"] == "escalated"
    last = client.get(f"/incidents/{incident_id}/timeline").json()[-1]
    assert (last["event"], last["actor"], last["detail"]["verified_by"]) == ("denied", "human:ana", "token")
    assert last["detail"]["reason"] == "not during the freeze" and last["detail"]["outcome"] == "denied"
    (request,) = client.get(f"/incidents/{incident_id}/approvals").json()
    assert (request["decision"], request["decided_by"], request["decision_reason"]) == (
        "denied",
        "ana",
        "not during the freeze",
    )


@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        (BOB, {"reason": "no"}, 403),  # a person, but not a configured approver
        (None, {"approver": "ana", "reason": "no"}, 403),  # a name without that person's token proves nothing
        (BOB, {"approver": "ana", "reason": "no"}, 403),  # bob's token answering as ana
        (ANA, {"approver": "-rf", "reason": "no"}, 422),  # an approver name must start with a letter or digit
    ],
)
def test_deny_refusals_leave_the_incident_waiting(
    client: TestClient, store: Store, config: HealerConfig, token: str | None, body: dict[str, str], status: int
) -> None:
    incident_id = report(store, config, service="billing")
    headers = as_person(token) if token else {}
    assert client.post(f"/incidents/{incident_id}/deny", json=body, headers=headers).status_code == status
    assert store.get(incident_id).status == Status.awaiting_approval


def test_deny_without_a_waiting_approval_is_not_found(client: TestClient, store: Store, config: HealerConfig) -> None:
    incident_id = report(store, config)  # routed straight to the agents
    answer = client.post(f"/incidents/{incident_id}/deny", json={}, headers=as_person(ANA))
    assert answer.status_code == 404 and "no approval waiting" in answer.json()["error"]["message"]
    assert store.get(incident_id).status == Status.pending


# -- the dead-letter routes --------------------------------------------------------------------------


def test_dead_letter_routes_show_the_last_error_and_every_attempt(
    client: TestClient, store: Store, config: HealerConfig, clock: FakeClock
) -> None:
    incident_id = report(store, config)
    dead_letter(store, clock, incident_id)
    listed = client.get("/dead-letters").json()
    shown = client.get(f"/dead-letters/{incident_id}").json()
    assert listed == [shown]
    assert shown["incident"]["id"] == incident_id and shown["incident"]["status"] == "dead_letter"
    assert shown["last_error"] == FAILURES[-1]
    attempts = [(a["number"], a["agent"], a["outcome"], a["permanent"], a["error"]) for a in shown["attempts"]]
    assert attempts == [(n, "cline", "failed", False, error) for n, error in enumerate(FAILURES, start=1)]
    assert client.get("/dead-letters/INC-20261122-9999").status_code == 404


def test_retry_sends_it_back_to_pending_with_a_fresh_budget(
    client: TestClient, store: Store, config: HealerConfig, clock: FakeClock
) -> None:
    incident_id = report(store, config)
    dead_letter(store, clock, incident_id)
    answer = client.post(f"/dead-letters/{incident_id}/retry", json={"by": "ana"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["attempts"]) == ("pending", 0)
    last = client.get(f"/incidents/{incident_id}/timeline").json()[-1]
    assert (last["event"], last["actor"]) == ("retried", "human:ana")
    assert client.get("/dead-letters").json() == []
    assert [item.id for item in store.pending().items] == [incident_id]
    # A fresh budget: the next failure backs off instead of dead-lettering again at once.
    store.claim(incident_id, agent="cline")
    again = store.report_fix(incident_id, agent="cline", outcome="failed", notes="still red")
    assert (again.status, again.attempts) == (Status.pending, 1)
    # Only a dead-lettered (or rejected) incident can be retried.
    refused = client.post(f"/dead-letters/{incident_id}/retry", json={"by": "ana"})
    assert refused.status_code == 409, refused.text
    assert f"{incident_id} is not in the dead-letter queue (it is pending)" in refused.json()["error"]["message"]
    assert store.get(incident_id).status == Status.pending


# -- the CLI, as a real process against the same HEALER_HOME -------------------------------------------


def healer(home: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = healer_env(home, db_url, USER="ana", LOGNAME="ana")
    return subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=60)


def test_dlq_cli_lists_shows_and_retries(
    home: Path, db_url: str, store: Store, config: HealerConfig, clock: FakeClock
) -> None:
    assert healer(home, db_url, "dlq", "list").stdout == "the dead-letter queue is empty\n"
    incident_id = report(store, config)
    dead_letter(store, clock, incident_id)

    listed = healer(home, db_url, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert line.startswith(incident_id) and "calc" in line and "3 attempts" in line and FAILURES[-1] in line

    shown = healer(home, db_url, "dlq", "show", incident_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"{incident_id} [high]")
    for number, error in enumerate(FAILURES, start=1):
        attempt = lines.index(next(x for x in lines if x.strip().startswith(f"attempt {number} by cline")))
        assert "(transient)" in lines[attempt] and lines[attempt + 1].strip() == error

    retried = healer(home, db_url, "dlq", "retry", incident_id)
    assert (retried.returncode, retried.stdout) == (0, f"{incident_id} is pending again\n"), retried.stderr
    incident = store.get(incident_id)
    assert (incident.status, incident.attempts) == (Status.pending, 0)
    assert store.timeline(incident_id)[-1].actor == "human:ana"
    assert healer(home, db_url, "dlq", "list").stdout == "the dead-letter queue is empty\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("dlq", "show", "INC-20261122-9999"), "INC-20261122-9999"),  # no such incident
        (("dlq", "retry", "INC-20261122-9999"), "INC-20261122-9999"),
    ],
)
def test_dlq_cli_errors_name_the_incident(
    home: Path, db_url: str, store: Store, args: tuple[str, ...], says: str
) -> None:
    done = healer(home, db_url, *args)
    assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr


def test_dlq_cli_refuses_to_retry_an_incident_that_is_not_dead(
    home: Path, db_url: str, store: Store, config: HealerConfig
) -> None:
    incident_id = report(store, config)
    done = healer(home, db_url, "dlq", "retry", incident_id)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"healer: {incident_id} is not in the dead-letter queue (it is pending);")
    assert "cannot move to" not in done.stderr
    assert store.get(incident_id).status == Status.pending


# -- the queue around dead letters ---------------------------------------------------------------------


def test_a_dead_incident_does_not_block_another_of_the_same_service(
    store: Store, config: HealerConfig, clock: FakeClock
) -> None:
    dead = report(store, config, error="psycopg2.OperationalError: pool exhausted")
    dead_letter(store, clock, dead)
    waiting = report(store, config, error="KeyError: 'currency'")
    # get_pending_incidents reads this query, filtered by service or not.
    assert [item.id for item in store.pending().items] == [waiting]
    assert [item.id for item in store.pending(service="calc").items] == [waiting]
    assert store.claim(waiting, agent="cline").status == Status.claimed


# -- a permanent failure -------------------------------------------------------------------------------

TOKEN = "ghp_" + "Dl9" * 12
WRONG = "ghp_" + "Wr0ng" * 8


def test_a_permanent_failure_goes_straight_to_the_dead_letter(tmp_path: Path, store: Store, clock: FakeClock) -> None:
    # GitHub refusing the credentials (the GitHub emulator over real HTTP): retrying fails the same way.
    emulator = GitHubEmulator(tmp_path / "github", token=TOKEN, clock=clock)
    emulator.seed(make_calc_repo(tmp_path / "calc-source"))
    emulator.start()
    try:
        home = tmp_path / "gh-home"
        home.mkdir()
        (home / "healer.toml").write_text(
            f'[repos.calc]\nurl = "{emulator.url}/acme/payments.git"\nforge = "github"\n'
            f'github_repo = "acme/payments"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
            "[repos.calc.policy]\nverify_before = false\n"
        )
        config = load_config(home / "healer.toml")
        settings = Settings(
            home=home,
            github_url=emulator.url,
            github_token=WRONG,
            github_seconds_between_requests=0,
            github_seconds_between_writes=0,
        )
        incident_id = report(store, config)
        store.claim(incident_id, agent="cline")
        change = Change(edits=[Edit(path="app/calc.py", old="return a - b", new="return a + b")])
        submission = FixSubmission(change=change, summary="add adds", explanation="add subtracted its arguments")
        with pytest.raises(ForgeAuthError):
            FixService(store, config, settings).submit(incident_id, submission, agent="cline")
    finally:
        emulator.stop()
    incident = store.get(incident_id)
    assert (incident.status, incident.attempts) == (Status.dead_letter, 1)  # one attempt, not three
    last = store.timeline(incident_id)[-1]
    assert last.event == "dead_lettered" and last.detail["permanent"] is True and "permanent" in last.detail["why"]
    (dead,) = store.list_incidents(status=[Status.dead_letter]).items
    assert dead.id == incident_id
