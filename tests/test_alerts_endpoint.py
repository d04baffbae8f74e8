"""POST /alerts/{source}: real monitor payloads become incidents, occurrences and resolutions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.config import load_config
from server.settings import Settings
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FIXTURES, ServerProcess, wait_until_triaged
from tests.mcp_client import stdio_session, structured

ALERTS = FIXTURES / "alerts"


def body(path: str) -> bytes:
    return (ALERTS / path).read_bytes()


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    settings = Settings(home=healer_home)
    config = load_config(healer_home / "healer.toml")
    with TestClient(build_app(settings, config, store, run_triage=False)) as test_client:
        yield test_client


# (source, fixture, what each alert became, the first created incident's service and severity; the
# Alertmanager sample has no service label, so its `job` names the service, and its warning is medium)
CASES = [
    ("alertmanager", "alertmanager/prom_post_request.json", ["created"], ("docker_nodes", "medium")),
    ("grafana", "grafana/alert_values_v11.json", ["created"], None),
    ("grafana", "grafana/alert_ok.json", ["ignored"], None),  # a legacy test notification
    ("sentry", "sentry/event_for_exception_python.json", ["created"], None),
    ("pagerduty", "pagerduty/triggered_v3.json", ["created"], None),
    ("pagerduty", "pagerduty/resolved_v3.json", ["ignored"], None),  # nothing open for it
    ("datadog", "datadog/webhook-default-payload-test-notification.json", ["ignored"], None),  # a test message
]


@pytest.mark.parametrize(("source", "fixture", "outcomes", "expected"), CASES)
def test_fixture_payloads(
    client: TestClient, source: str, fixture: str, outcomes: list[str], expected: tuple[str, str] | None
) -> None:
    answer = client.post(f"/alerts/{source}", content=body(fixture), headers={"content-type": "application/json"})
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert [a["outcome"] for a in result["alerts"]] == outcomes
    created = [a for a in result["alerts"] if a["outcome"] == "created"]
    for item in created:
        incident = client.get(f"/incidents/{item['incident_id']}").json()
        assert incident["source"] == source and incident["status"] == "received"
        alerts = client.get(f"/incidents/{item['incident_id']}/alerts").json()["items"]
        assert alerts[0]["identity"] == item["identity"] and alerts[0]["payload"]
    if expected and created:
        incident = client.get(f"/incidents/{created[0]['incident_id']}").json()
        assert (incident["service"], incident["severity"]) == expected


def test_sentry_frames_reach_the_incident(client: TestClient) -> None:
    answer = client.post("/alerts/sentry", content=body("sentry/event_for_exception_python.json")).json()
    incident = client.get(f"/incidents/{answer['alerts'][0]['incident_id']}").json()
    assert [(f["filename"], f["lineno"]) for f in incident["stack_frames"]] == [("trigger-exception.py", 7)]


def test_mixed_group_resolves_per_alert_and_truncation_resolves_nothing(client: TestClient, store: Store) -> None:
    mixed = json.loads(body("grafana/alert-9-mixed.json"))
    firing_all = {**mixed, "alerts": [{**a, "status": "firing"} for a in mixed["alerts"]]}
    first = client.post("/alerts/grafana", json=firing_all).json()
    assert [a["outcome"] for a in first["alerts"]] == ["created", "created", "created"]
    triage_received(store)
    second = client.post("/alerts/grafana", json=mixed).json()
    by_status = {a["status"]: a["outcome"] for a in second["alerts"]}
    assert by_status == {"resolved": "resolved", "firing": "occurrence"}
    statuses = sorted(client.get(f"/incidents/{a['incident_id']}").json()["status"] for a in second["alerts"])
    assert statuses == ["pending", "resolved_by_source", "resolved_by_source"]
    truncated = json.loads(body("grafana/alert_new.json"))
    assert truncated["truncatedAlerts"] == 1
    answer = client.post("/alerts/grafana", json=truncated).json()
    assert answer["truncated"] == 1 and all(a["outcome"] != "resolved" for a in answer["alerts"])


def test_redelivery_counts_once(client: TestClient) -> None:
    headers = {"X-Webhook-Id": "delivery-42"}
    first = client.post("/alerts/alertmanager", content=body("alertmanager/prom_post_request.json"), headers=headers)
    again = client.post("/alerts/alertmanager", content=body("alertmanager/prom_post_request.json"), headers=headers)
    assert again.json()["redelivery"] is True and again.json()["alerts"] == first.json()["alerts"]
    incident = client.get(f"/incidents/{first.json()['alerts'][0]['incident_id']}").json()
    assert incident["occurrences"] == 1


@pytest.mark.parametrize(
    ("source", "payload", "status", "says"),
    [
        ("nagios", b"{}", 404, "alertmanager"),  # unknown source lists the configured ones
        ("alertmanager", b'{"alerts": 3}', 422, "alerts"),  # the JSON path that is wrong
        ("alertmanager", b"not json", 422, "JSON"),
    ],
)
def test_bad_deliveries_store_nothing(client: TestClient, source: str, payload: bytes, status: int, says: str) -> None:
    answer = client.post(f"/alerts/{source}", content=payload)
    assert answer.status_code == status and says in answer.json()["error"]["message"]
    assert client.get("/incidents").json()["items"] == []


def test_signed_source_refuses_a_wrong_signature(tmp_path: Path, store: Store, payments_repo: Path) -> None:
    home = tmp_path / "signed"
    home.mkdir()
    (home / "healer.toml").write_text('[sources.sentry]\nclient_secret = "s3cret"\n')
    with TestClient(build_app(Settings(home=home), load_config(home / "healer.toml"), store, run_triage=False)) as c:
        raw = body("sentry/event_for_exception_python.json")
        refused = c.post("/alerts/sentry", content=raw, headers={"Sentry-Hook-Signature": "0" * 64})
        assert refused.status_code == 401 and "s3cret" not in refused.text
        import hashlib
        import hmac

        good = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert c.post("/alerts/sentry", content=raw, headers={"Sentry-Hook-Signature": good}).status_code == 202
        assert len(c.get("/incidents").json()["items"]) == 1


def test_resolve_before_fix_closes_a_claimed_incident_over_real_http(server: ServerProcess) -> None:
    raw = json.loads(body("alertmanager/prom_post_request.json"))
    raw["alerts"][0]["labels"]["service"] = "payments"
    raw["alerts"][0]["fingerprint"] = "payments-pool-1"
    created = httpx.post(f"{server.url}/alerts/alertmanager", json=raw).json()["alerts"][0]
    assert wait_until_triaged(server.url, created["incident_id"])["status"] == "pending"

    async def claim() -> None:
        async with stdio_session(server.env, name="cline") as client:
            structured(await client.call_tool("claim_incident", {"incident_id": created["incident_id"]}))

    asyncio.run(claim())
    resolved = {**raw, "status": "resolved", "alerts": [{**raw["alerts"][0], "status": "resolved"}]}
    answer = httpx.post(f"{server.url}/alerts/alertmanager", json=resolved).json()
    assert answer["alerts"][0]["outcome"] == "resolved" and "released" in answer["alerts"][0]["reason"]
    incident = httpx.get(f"{server.url}/incidents/{created['incident_id']}").json()
    assert incident["status"] == "resolved_by_source" and incident["claim"] is None
    events = [e["event"] for e in httpx.get(f"{server.url}/incidents/{created['incident_id']}/timeline").json()]
    assert events[-1] == "resolved_by_source"
