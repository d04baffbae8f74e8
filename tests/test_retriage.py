"""Retriage: an incident escalated before healer.toml mapped its service is routed again once it does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import HEALER, healer_env
from tests.fixer_repo import make_calc_repo

ROUTING = """
[routing.approval]
users = ["ana"]

[[routing.rules]]
name = "billing needs a yes"
match = ['service="billing"']
route = "approval"
"""


def configure(home: Path, repo: Path, services: list[str]) -> HealerConfig:
    listed = ", ".join(f'"{name}"' for name in services)
    (home / "healer.toml").write_text(f'[repos.calc]\npath = "{repo}"\nservices = [{listed}]\n' + ROUTING)
    return load_config(home / "healer.toml")


def report(store: Store, config: HealerConfig, service: str) -> str:
    incident_id = store.ingest(normalize(IncidentIn(service=service, error="boom", severity="high"), config)).id
    rules = Triage(config)
    triage_received(store, rules.decide, approval=rules.approval)
    return incident_id


def setup(tmp_path: Path, store: Store) -> tuple[Path, Path, list[str]]:
    """Three incidents reported before healer.toml maps `orders` and `billing`: all escalated, no repository."""
    repo = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    before = configure(home, repo, ["calc"])
    ids = [report(store, before, service) for service in ("orders", "billing", "inventory")]
    for incident_id in ids:
        incident = store.get(incident_id)
        assert (incident.status, incident.repo) == (Status.escalated, None)
    return home, repo, ids


def test_the_cli_routes_escalated_incidents_again_after_the_config_maps_them(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    home, repo, (orders, billing, inventory) = setup(tmp_path, store)
    configure(home, repo, ["calc", "orders", "billing"])  # inventory stays unmapped
    env = healer_env(home, db_url, USER="ana", LOGNAME="ana")
    done = subprocess.run(
        [HEALER, "incidents", "retriage", "--status", "escalated"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{orders} -> pending (repository calc)")
    assert lines[1].startswith(f"{billing} -> awaiting_approval (repository calc)")
    assert lines[2].startswith(f"{inventory} still escalated: ") and "no repository is mapped" in lines[2]
    assert (store.get(orders).status, store.get(orders).repo) == (Status.pending, "calc")
    assert [item.id for item in store.pending().items] == [orders]
    assert store.get(billing).status == Status.awaiting_approval
    assert (store.get(inventory).status, store.get(inventory).repo) == (Status.escalated, None)
    triaged = [event for event in store.timeline(orders) if event.event == "triaged"]
    assert [event.actor for event in triaged] == ["system", "human:ana"]
    # Nothing left to do: a second run says so.
    again = subprocess.run(
        [HEALER, "incidents", "retriage", orders], env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 2 and f"{orders} cannot be triaged again: it is pending, not escalated" in again.stderr


def test_the_rest_routes_retriage_one_or_all_and_refuse_the_wrong_ones(tmp_path: Path, store: Store) -> None:
    home, repo, (orders, billing, inventory) = setup(tmp_path, store)
    config = configure(home, repo, ["calc", "orders", "billing"])
    with TestClient(
        build_app(Settings(home=home), config, store, run_triage=False), base_url="http://127.0.0.1"
    ) as client:
        one = client.post(f"/incidents/{orders}/retriage", json={"by": "ana"})
        assert one.status_code == 200, one.text
        assert (one.json()["status"], one.json()["repo"], one.json()["moved"]) == ("pending", "calc", True)
        refused = client.post(f"/incidents/{orders}/retriage", json={})
        assert refused.status_code == 409
        assert refused.json()["error"]["message"].startswith(f"{orders} cannot be triaged again: it is pending")
        assert client.post("/incidents/INC-20261122-9999/retriage", json={}).status_code == 404
        many = client.post("/incidents/retriage", json={"by": "ana"})
        assert many.status_code == 200, many.text
        assert [(item["incident_id"], item["status"]) for item in many.json()] == [
            (billing, "awaiting_approval"),
            (inventory, "escalated"),
        ]


def test_naming_no_incident_retriages_every_one_escalated_without_a_repository(tmp_path: Path, store: Store) -> None:
    from server.triage import retriage

    home, repo, (orders, billing, inventory) = setup(tmp_path, store)
    config = configure(home, repo, ["calc", "orders", "billing"])
    done = retriage.retriage(store, config, None, by="ana")  # what the REST body without incident_ids and the CLI ask
    assert [(item.incident_id, item.moved) for item in done] == [(orders, True), (billing, True), (inventory, False)]
    assert retriage.retriage(store, config, [], by="ana") == []  # an empty list names none
