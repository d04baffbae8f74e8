"""What monitoring sees: /metrics after a scripted run, /healthz and /readyz, the live feed over a real
server (replay with Last-Event-ID, clean shutdown), and JSON log lines carrying the incident's ids."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.models import Status
from server.review.reviews import ReviewEvent, apply
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FakeClock, ServerProcess, healer_env, start_server, wait_until_triaged
from tests.fixer_repo import ADD_FIX, TEST_COMMAND, diff_for, make_calc_repo


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    config = load_config(healer_home / "healer.toml")
    with TestClient(
        build_app(Settings(home=healer_home), config, store, run_triage=False), base_url="http://127.0.0.1"
    ) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_happened(client: TestClient, store: Store, clock: FakeClock) -> None:
    post = client.post
    a = post("/incidents", json={"service": "payments", "error": "pool exhausted", "severity": "high"}).json()["id"]
    post("/incidents", json={"service": "payments", "error": "pool exhausted", "severity": "high"})  # a repeat
    b = post("/incidents", json={"service": "search", "error": "index gone", "severity": "high"}).json()["id"]
    post("/incidents", json={"log": "CRITICAL disk full", "source": "kestra", "service": "files"})
    triage_received(store)
    before = scrape(client)  # a scrape in the middle: later ones add only what came after
    assert value(before, "healer_incidents_received_total", source="api", severity="high") == 2

    store.claim(a, agent="bot")
    store.claim(b, agent="bot")
    assert value(scrape(client), "healer_open_claims") == 2
    clock.advance(minutes=10)
    store.report_fix(a, agent="bot", outcome="success", pr_url="https://git.example/payments/pull/7")
    store.report_fix(b, agent="bot", outcome="failed", notes="could not reproduce")
    clock.advance(hours=1)
    apply(store, ReviewEvent(kind="pr_merged", incident_id=a, number=7, actor="github:alice"))
    clock.advance(minutes=30)
    store.transition(a, Status.verified, actor="system")

    after = scrape(client)
    expected_counts = {
        ("healer_incidents_received_total", (("severity", "high"), ("source", "api"))): 2,
        ("healer_incidents_received_total", (("severity", "critical"), ("source", "kestra"))): 1,
        ("healer_incident_occurrences_total", (("source", "api"),)): 1,
        ("healer_state_transitions_total", (("from", "received"), ("to", "triaged"))): 3,
        ("healer_state_transitions_total", (("from", "triaged"), ("to", "pending"))): 3,
        ("healer_state_transitions_total", (("from", "pending"), ("to", "claimed"))): 2,
        ("healer_state_transitions_total", (("from", "claimed"), ("to", "pr_open"))): 1,
        ("healer_state_transitions_total", (("from", "claimed"), ("to", "pending"))): 1,
        ("healer_state_transitions_total", (("from", "pr_open"), ("to", "merged"))): 1,
        ("healer_state_transitions_total", (("from", "merged"), ("to", "verified"))): 1,
        ("healer_fix_attempts_total", (("outcome", "pr_opened"),)): 1,
        ("healer_fix_attempts_total", (("outcome", "failed"),)): 1,
        ("healer_agent_tool_calls_total", (("outcome", "claimed"), ("tool", "claim_incident"))): 2,
        ("healer_agent_tool_calls_total", (("outcome", "success"), ("tool", "report_fix_status"))): 1,
        ("healer_agent_tool_calls_total", (("outcome", "failed"), ("tool", "report_fix_status"))): 1,
        ("healer_incidents", (("status", "verified"),)): 1,
        ("healer_incidents", (("status", "pending"),)): 2,
        ("healer_open_claims", ()): 0,
        ("healer_time_to_pr_seconds_count", ()): 1,
        ("healer_time_to_pr_seconds_sum", ()): 600,
        ("healer_time_to_pr_seconds_bucket", (("le", "300.0"),)): 0,
        ("healer_time_to_pr_seconds_bucket", (("le", "900.0"),)): 1,
        ("healer_time_to_merge_seconds_sum", ()): 3600,
        ("healer_time_to_verified_seconds_sum", ()): 1800,
        ("healer_time_to_verified_seconds_count", ()): 1,
    }
    assert {key: after.get(key, 0.0) for key in expected_counts} == expected_counts
    # A scrape with nothing new in between changes nothing.
    assert scrape(client) == after
    assert value(scrape(client), "healer_state_transitions_total", **{"from": "received", "to": "triaged"}) == 3


def test_request_latency_by_route_template_without_ids_or_the_feed(client: TestClient) -> None:
    iid = client.post("/incidents", json={"service": "payments", "error": "e"}).json()["id"]
    client.get(f"/incidents/{iid}")
    client.get(f"/ui/incidents/{iid}")
    body = client.get("/metrics").text
    assert (
        'healer_http_request_duration_seconds_count{method="GET",route="/incidents/{incident_id}",status="200"} 1.0'
        in body
    )
    assert 'route="/ui/incidents/{incident_id}"' in body
    assert "INC-" not in body  # no ids in labels
    assert 'route="/metrics"' not in body and 'route="/events"' not in body


def test_healthz_and_readyz(client: TestClient, store: Store) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    with store.write() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    stale = client.get("/readyz")
    assert stale.status_code == 503
    assert stale.json() | {"store": "ok"} == {
        "status": "not_ready",
        "store": "ok",
        "schema_revision": "0007",
        "expected_revision": stale.json()["expected_revision"],
    }


def read_events(url: str, *, headers: dict[str, str], want: int, timeout: float = 15) -> list[dict[str, object]]:
    """The first ``want`` timeline events of a feed connection."""
    events: list[dict[str, object]] = []
    with httpx.stream("GET", f"{url}/events", headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        ident = None
        for line in answer.iter_lines():
            if line.startswith("id:"):
                ident = int(line[3:].strip())
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                assert data["id"] == ident  # the SSE id is the timeline row id
                events.append(data)
                if len(events) >= want:
                    break
    return events


def test_the_feed_replays_after_last_event_id(server: ServerProcess) -> None:
    made = [
        httpx.post(
            f"{server.url}/incidents", json={"service": "payments", "error": f"e{n}", "fingerprint": f"f{n}"}
        ).json()["id"]
        for n in range(3)
    ]
    for iid in made:
        wait_until_triaged(server.url, iid)
    history = [e for iid in made for e in httpx.get(f"{server.url}/incidents/{iid}/timeline").json()]
    ids = sorted(e["id"] for e in history)
    start = ids[2]
    replayed = read_events(server.url, headers={"last-event-id": str(start)}, want=len(ids) - 3)
    assert [e["id"] for e in replayed] == ids[3:]  # everything after, in order, nothing twice
    # Then live: a new incident arrives on an open connection.
    got: list[dict[str, object]] = []
    reader = threading.Thread(
        target=lambda: got.extend(read_events(server.url, headers={"last-event-id": str(ids[-1])}, want=1))
    )
    reader.start()
    time.sleep(0.5)
    new = httpx.post(f"{server.url}/incidents", json={"service": "search", "error": "late"}).json()["id"]
    reader.join(15)
    assert got and got[0]["incident_id"] == new and got[0]["event"] == "received"


def test_a_feed_on_one_replica_carries_what_another_replica_wrote(server: ServerProcess, tmp_path: Path) -> None:
    # Two `healer serve` processes on one store (SQLite file, or PostgreSQL in CI): the feed is built on
    # the timeline table, so a browser on either sees every change, whichever process made it.
    other = start_server(server.env, tmp_path / "other.log")
    try:
        first = httpx.post(f"{server.url}/incidents", json={"service": "payments", "error": "first"}).json()["id"]
        wait_until_triaged(server.url, first)
        history = httpx.get(f"{server.url}/incidents/{first}/timeline").json()
        last = max(event["id"] for event in history)
        got: list[dict[str, object]] = []
        reader = threading.Thread(
            target=lambda: got.extend(read_events(server.url, headers={"last-event-id": str(last)}, want=1))
        )
        reader.start()
        time.sleep(0.5)
        new = httpx.post(f"{other.url}/incidents", json={"service": "search", "error": "via the other replica"})
        reader.join(15)
        assert got and got[0]["incident_id"] == new.json()["id"] and got[0]["event"] == "received"
    finally:
        other.stop()


def test_the_server_stops_promptly_with_feed_connections_open(server: ServerProcess) -> None:
    opened = threading.Event()

    def listen() -> None:
        try:
            with httpx.stream("GET", f"{server.url}/events", timeout=30) as answer:
                opened.set()
                for _ in answer.iter_lines():
                    pass
        except httpx.HTTPError:
            pass

    listeners = [threading.Thread(target=listen) for _ in range(3)]
    for listener in listeners:
        listener.start()
    assert opened.wait(10)
    time.sleep(0.3)
    started = time.monotonic()
    server.process.terminate()
    server.process.wait(15)
    assert time.monotonic() - started < 5
    for listener in listeners:
        listener.join(5)
        assert not listener.is_alive()


def test_a_fix_logs_json_lines_with_the_incident_and_trace_id(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
    )
    env = healer_env(home, HEALER_LOG_LEVEL="INFO")
    log = tmp_path / "server.log"
    server = start_server(env, log)  # stderr is a file, not a terminal: JSON lines by default
    try:
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        created = httpx.post(
            f"{server.url}/incidents",
            json={"service": "calc", "error": "add is wrong"},
            headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        ).json()
        iid = created["id"]
        wait_until_triaged(server.url, iid)
        store = Store.open(env["HEALER_DATABASE_URL"])
        store.claim(iid, agent="kestra")
        store.close()
        body = {
            "change": {"diff": diff_for(source, ADD_FIX, tmp_path)},
            "summary": "add adds",
            "explanation": "add subtracted its arguments.",
            "agent": "kestra",
        }
        answer = httpx.post(
            f"{server.url}/incidents/{iid}/fix", json=body, headers={"x-request-id": "req-fix-1"}, timeout=120
        )
        assert answer.status_code == 200, answer.text
    finally:
        server.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    opened = [line for line in lines if line["event"].startswith("pull request #")]
    assert opened, log.read_text()[-2000:]
    line = opened[0]
    assert (line["incident_id"], line["trace_id"], line["request_id"], line["level"]) == (
        iid,
        trace,
        "req-fix-1",
        "info",
    )
    assert line["logger"] == "server.fixing.submit" and line["time"].endswith("Z")
