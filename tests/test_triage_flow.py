"""Triage wired to the store: verdicts and routes, approvals, backoff and the dead-letter queue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fixer.forge import Forge
from fixer.models import Change, Edit
from server.approvals.records import answer, expire_due
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.errors import Forbidden, InvalidTransition, TooManyRefusals
from server.fixing.attempts import dead_letters, retry
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.store.triage_schema import verdicts
from server.triage.decide import Triage
from server.triage.policy import routing_policy
from server.triage.worker import triage_received
from tests.conftest import HEALER, FakeClock, as_person, healer_env, person_toml
from tests.fixer_repo import TEST_COMMAND, make_calc_repo

ROUTING = """
[routing.approval]
users = ["ana"]
expiry_hours = 2

[[routing.rules]]
name = "billing needs a yes"
match = ['service="billing"']
route = "approval"

[[routing.rules]]
name = "noisy canary is watched"
match = ['labels.env="canary"']
route = "monitor"
"""


def config_for(tmp_path: Path, extra: str = "") -> HealerConfig:
    repo = make_calc_repo(tmp_path / "calc")
    text = (
        f'[repos.calc]\npath = "{repo}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc", "billing"]\n'
        + ROUTING
        + extra
    )
    (tmp_path / "healer.toml").write_text(text)
    return load_config(tmp_path / "healer.toml")


def report(store: Store, config: HealerConfig, **fields: object) -> str:
    body: dict[str, object] = {"service": "calc", "error": "boom", "severity": "high"}
    body.update(fields)
    new = normalize(IncidentIn.model_validate(body), config)
    iid = store.ingest(new).id
    rules = Triage(config)
    triage_received(store, rules.decide, approval=rules.approval)
    return iid


@pytest.mark.parametrize(
    ("fields", "status", "category"),
    [
        ({"error": "psycopg2.OperationalError: FATAL: remaining connection slots are reserved"}, "pending", "database"),
        ({"error": "java.lang.OutOfMemoryError: Java heap space"}, "pending", "memory"),
        ({"error": "boom", "severity": "low"}, "monitoring", None),  # low severity is watched
        ({"service": "ledger", "error": "boom"}, "escalated", None),  # no repository maps it: humans
        ({"service": "billing", "error": "boom"}, "awaiting_approval", None),  # a rule asks for a person
        ({"error": "boom", "labels": {"env": "canary"}}, "monitoring", None),  # a label matcher
    ],
)
def test_worker_classifies_and_routes(
    store: Store, tmp_path: Path, fields: dict[str, object], status: str, category: str | None
) -> None:
    config = config_for(tmp_path)
    iid = report(store, config, **fields)
    incident = store.get(iid)
    assert incident.status.value == status
    assert incident.category is not None and incident.summary
    if category:
        assert incident.category.value == category
    with store.read() as connection:
        (row,) = connection.execute(select(verdicts)).all()
    assert row.category == incident.category.value and row.routing["route"]
    triaged = next(e for e in store.timeline(iid) if e.event == "triaged")
    assert triaged.detail["route"] and triaged.detail["classified"]


def test_reported_severity_is_never_lowered(store: Store, tmp_path: Path) -> None:
    config = config_for(tmp_path)
    iid = report(store, config, severity="critical", error="connection pool exhausted")
    assert store.get(iid).severity.value == "critical"


def test_incident_approval_approve_deny_and_expiry(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    config = config_for(tmp_path)
    policy = routing_policy(config).config.approval
    first = report(store, config, service="billing", error="e1", fingerprint="1")
    with pytest.raises(Forbidden, match="bob is not an approver"):
        answer(store, first, user="bob", approve=True, reason="", policy=policy)
    assert answer(store, first, user="ana", approve=True, reason="ok", policy=policy).status == Status.pending
    second = report(store, config, service="billing", error="e2", fingerprint="2")
    assert answer(store, second, user="ana", approve=False, reason="no", policy=policy).status == Status.escalated
    third = report(store, config, service="billing", error="e3", fingerprint="3")
    clock.advance(hours=3)
    assert expire_due(store) == 1
    assert store.get(third).status == Status.escalated
    events = {e.event: e for e in store.timeline(first)}
    assert events["approved"].actor == "human:ana" and events["approved"].detail["reason"] == "ok"


def test_a_fix_touching_auth_is_held_until_approved_and_then_runs(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    settings = Settings(home=tmp_path / "home")
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    iid = report(store, config)
    store.claim(iid, agent="cline")
    service = FixService(store, config, settings)
    change = Change(edits=[Edit(path="app/auth/tokens.py", create="TTL = 60\n")])
    held = service.submit(
        iid, FixSubmission(change=change, summary="token ttl", explanation="tokens expire too soon"), agent="cline"
    )
    assert (
        held.held_for_approval
        and held.status == Status.awaiting_approval
        and "app/auth/tokens.py" in str(held.approval_reason)
    )
    policy = routing_policy(config).config.approval
    # Even a named approver may not approve a change they asked for themselves.
    self_approver = policy.model_copy(update={"users": ("agent:cline", "ana")})
    with pytest.raises(Forbidden, match="requested this change"):
        answer(store, iid, user="agent:cline", approve=True, reason="", policy=self_approver)
    decided = answer(store, iid, user="ana", approve=True, reason="reviewed", policy=policy)
    assert decided.status == Status.fixing and decided.payload is not None
    outcome = service.resume(iid, decided.payload)
    assert outcome.status == Status.pr_open and outcome.pull_request_number == 1
    store.close()


def test_a_changed_fix_makes_the_approval_stale(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    service = FixService(store, config, Settings(home=tmp_path / "home"))
    iid = report(store, config)
    store.claim(iid, agent="cline")
    one = FixSubmission(
        change=Change(edits=[Edit(path="app/auth/a.py", create="A = 1\n")]),
        summary="set a",
        explanation="first version",
    )
    service.submit(iid, one, agent="cline")
    decided = answer(store, iid, user="ana", approve=True, reason="", policy=routing_policy(config).config.approval)
    service.resume(iid, decided.payload or {})
    # A follow-up on the same incident with a different change needs a new yes.
    store.transition(iid, Status.changes_requested, actor="github:ana", updates={"review_state": "changes_requested"})
    store.claim(iid, agent="cline")
    two = one.model_copy(update={"change": Change(edits=[Edit(path="app/auth/a.py", create="A = 2\n")])})
    held = service.submit(iid, two, agent="cline")
    assert held.held_for_approval
    requested = [e for e in store.timeline(iid) if e.event == "approval_requested"]
    assert "stale" in requested[-1].detail
    store.close()


def test_dead_letter_queue_and_retry(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    config = config_for(tmp_path)
    iid = report(store, config)
    for _ in range(3):
        store.claim(iid, agent="cline")
        store.report_fix(iid, agent="cline", outcome="failed", notes="could not reproduce")
        clock.advance(hours=2)
    (dead,) = dead_letters(store)
    assert dead.incident.id == iid and len(dead.attempts) == 3 and dead.last_error == "could not reproduce"
    back = retry(store, iid, by="ana")
    assert (back.status, back.attempts) == (Status.pending, 0)
    with pytest.raises(InvalidTransition):
        retry(store, iid, by="ana")


def test_rest_and_cli_faces(tmp_path: Path) -> None:
    from server.commands.serve import build_app

    config = config_for(tmp_path, person_toml("ana", "ana-person-token") + person_toml("bob", "bob-person-token"))
    home = tmp_path
    settings = Settings(home=home)
    store = Store.open(settings.resolved_database_url)
    iid = report(store, config, service="billing")
    with TestClient(build_app(settings, config, store, run_triage=False), base_url="http://127.0.0.1") as client:
        bob = as_person("bob-person-token")
        assert client.post(f"/incidents/{iid}/approve", json={}, headers=bob).status_code == 403
        ana = as_person("ana-person-token")
        approved = client.post(f"/incidents/{iid}/approve", json={"reason": "go"}, headers=ana).json()
        assert approved["decision"]["status"] == "pending"
        dry = client.post("/rules/test", json={"service": "billing", "error": "DB pool exhausted"}).json()
        assert dry["routing"]["route"] == "approval" and dry["routing"]["matched_rule"]["name"] == "billing needs a yes"
        assert client.get("/dead-letters").json() == []
    env = healer_env(home)
    sample = tmp_path / "report.json"
    sample.write_text(json.dumps({"service": "calc", "error": "x", "labels": {"env": "canary"}}))
    tested = subprocess.run([HEALER, "rules", "test", str(sample)], env=env, capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0 and "route: monitor" in tested.stdout and "[MATCH]" in tested.stdout
    checked = subprocess.run([HEALER, "rules", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout
    assert "the rules are valid" in checked.stdout and "run `healer doctor`" in checked.stdout
    (home / "healer.toml").write_text(
        (home / "healer.toml").read_text() + '\n[[routing.rules]]\nname = "x"\nroute = "teleport"\n'
    )
    broken = subprocess.run([HEALER, "rules", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "routing.rules" in broken.stdout and ":" in broken.stdout.split()[0]
    store.close()


def test_a_forge_that_cannot_be_set_up_fails_the_attempt_instead_of_leaving_it_fixing(tmp_path: Path) -> None:
    from fixer.errors import ForgeAuthError

    config = config_for(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")

    def no_forge(repo: object) -> Forge:
        raise ForgeAuthError("the GitHub App private key is not set (HEALER_GITHUB_APP_PRIVATE_KEY)")

    service = FixService(store, config, Settings(home=tmp_path / "home"), forges=no_forge)
    iid = report(store, config)
    store.claim(iid, agent="cline")
    change = Change(edits=[Edit(path="app/x.py", create="X = 1\n")])
    with pytest.raises(ForgeAuthError):
        service.submit(
            iid, FixSubmission(change=change, summary="set x", explanation="x was unset at start"), agent="cline"
        )
    incident = store.get(iid)
    # A credentials problem is permanent: humans see it in the dead-letter queue with the reason.
    assert incident.status == Status.dead_letter and incident.claim is None
    assert "HEALER_GITHUB_APP_PRIVATE_KEY" in str([e.detail for e in store.timeline(iid)])
    store.close()


def test_an_agent_whose_changes_keep_being_refused_does_not_hold_the_incident_for_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import server.fixing.submit
    from fixer.errors import ChangeRefused

    monkeypatch.setattr(server.fixing.submit, "MAX_REFUSALS", 3)
    config = config_for(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    service = FixService(store, config, Settings(home=tmp_path / "home"))
    iid = report(store, config)
    store.claim(iid, agent="cline")
    refused = FixSubmission(
        change=Change(edits=[Edit(path=".github/workflows/ci.yml", create="on: push\n")]),
        summary="touch ci",
        explanation="the deny-list refuses this every time",
    )
    for _ in range(2):
        with pytest.raises(ChangeRefused, match="deny-list"):
            service.submit(iid, refused, agent="cline")
        assert store.get(iid).status == Status.claimed  # still the agent's to fix, no attempt counted
    with pytest.raises(TooManyRefusals, match="3 changes in a row were refused"):
        service.submit(iid, refused, agent="cline")
    incident = store.get(iid)
    assert incident.status == Status.dead_letter and incident.claim is None
    store.close()
