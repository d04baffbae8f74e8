"""The incident page's agent runs: the list with its transcript, and Start agent / Cancel, in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.agents import lifecycle
from server.agents.lifecycle import Ending
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.store import Store
from server.triage.worker import triage_received
from tests.test_dashboard import csrf_of, post

AGENTS = '\n[agents.standin]\ncommand = ["standin", "{prompt}"]\n[agents.other]\ncommand = ["other"]\n'


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    config_file = healer_home / "healer.toml"
    config_file.write_text(config_file.read_text() + AGENTS)
    app = build_app(Settings(home=healer_home), load_config(config_file), store, run_triage=False)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def _signed_in(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    client.post("/login", data={"name": "Ana", "csrf": csrf, "next": "/"}, follow_redirects=False)


def test_start_an_agent_then_cancel_it_from_the_incident_page(client: TestClient, store: Store) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(store)
    _signed_in(client)
    page = client.get(f"/ui/incidents/{iid}").text
    assert "Agent runs" in page and "Start agent" in page
    assert '<option value="other" selected>' in page  # without [dispatch] agent: the first by name
    started = client.post(
        f"/ui/incidents/{iid}/agent-runs",
        data={"agent": "other", "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert started.status_code == 303
    page = client.get(f"/ui/incidents/{iid}").text
    assert "Run 1 of other queued" in page
    assert "Start agent" not in page  # one run at a time
    assert 'aria-label="Cancel run 1"' in page
    run = client.get(f"/incidents/{iid}/runs").json()[0]
    assert (run["agent"], run["status"], run["trigger"]) == ("other", "queued", "dashboard:Ana")

    client.post("/ui/runs/1/cancel", data={"csrf": csrf_of(page)}, follow_redirects=False)
    page = client.get(f"/ui/incidents/{iid}").text
    assert "Run 1 is cancelled." in page
    assert client.get("/runs/1").json()["status"] == "cancelled"
    last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert (last["actor"], last["event"]) == ("human:Ana", "agent_run_cancelled")


def test_a_finished_run_shows_its_duration_cost_and_transcript(client: TestClient, store: Store) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(store)
    queued = client.post(f"/incidents/{iid}/dispatch", json={"agent": "standin"})
    assert queued.status_code == 202, queued.text
    started = lifecycle.start(store, queued.json()["id"], lease_seconds=60)
    assert started is not None
    ending = Ending(exit_code=0, duration_seconds=42.0, transcript='{"type": "result"} <b>&', cost_usd=0.25)
    lifecycle.finish(store, started.run.id, ending, max_runs_per_incident=3)
    page = client.get(f"/ui/incidents/{iid}").text
    assert "<strong>no_result</strong>" in page and "42 s" in page and "$0.25" in page
    assert "<details><summary>Transcript of run 1" in page
    assert "{&#34;type&#34;: &#34;result&#34;} &lt;b&gt;&amp;" in page  # escaped: output is data


def test_csrf_is_required_to_start_an_agent(client: TestClient, store: Store) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(store)
    refused = client.post(f"/ui/incidents/{iid}/agent-runs", data={"agent": "standin"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"/incidents/{iid}/runs").json() == []
