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
from server.common.settings import Settings
from server.config import load_config
from server.intake.alerts import RAW_CAP
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FIXTURES, ServerProcess, wait_until_triaged
from tests.mcp_client import stdio_session, structured

ALERTS = FIXTURES / "alerts"
JSON = {"content-type": "application/json"}


def body(path: str) -> bytes:
    return (ALERTS / path).read_bytes()


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    settings = Settings(home=healer_home)
    config = load_config(healer_home / "healer.toml")
    with TestClient(build_app(settings, config, store, run_triage=False), base_url="http://127.0.0.1") as test_client:
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
    answer = client.post("/alerts/sentry", content=body("sentry/event_for_exception_python.json"), headers=JSON).json()
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
    headers = {**JSON, "X-Webhook-Id": "delivery-42"}
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
    answer = client.post(f"/alerts/{source}", content=payload, headers=JSON)
    assert answer.status_code == status and says in answer.json()["error"]["message"]
    assert client.get("/incidents").json()["items"] == []


def test_signed_source_refuses_a_wrong_signature(tmp_path: Path, store: Store, payments_repo: Path) -> None:
    home = tmp_path / "signed"
    home.mkdir()
    (home / "healer.toml").write_text('[sources.sentry]\nclient_secret = "s3cret-sentry-client"\n')
    with TestClient(
        build_app(Settings(home=home), load_config(home / "healer.toml"), store, run_triage=False),
        base_url="http://127.0.0.1",
    ) as c:
        raw = body("sentry/event_for_exception_python.json")
        refused = c.post("/alerts/sentry", content=raw, headers={**JSON, "Sentry-Hook-Signature": "0" * 64})
        assert refused.status_code == 401 and "s3cret-sentry-client" not in refused.text
        import hashlib
        import hmac

        good = hmac.new(b"s3cret-sentry-client", raw, hashlib.sha256).hexdigest()
        assert c.post("/alerts/sentry", content=raw, headers={**JSON, "Sentry-Hook-Signature": good}).status_code == 202
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


def am_group(status: str, *alerts: tuple[str, str], truncated: int = 0) -> dict[str, object]:
    """An Alertmanager v4 group for the payments service: (fingerprint, status) per alert."""
    return {
        "version": "4",
        "status": status,
        "receiver": "healer",
        "groupKey": '{}:{alertname="pool"}',
        "truncatedAlerts": truncated,
        "alerts": [
            {
                "status": alert_status,
                "labels": {"alertname": "pool", "service": "payments", "instance": fingerprint},
                "annotations": {"summary": f"pool exhausted on {fingerprint}"},
                "fingerprint": fingerprint,
            }
            for fingerprint, alert_status in alerts
        ],
    }


def post_alerts(server: ServerProcess, payload: dict[str, object], **headers: str) -> dict[str, object]:
    answer = httpx.post(f"{server.url}/alerts/alertmanager", json=payload, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    result: dict[str, object] = answer.json()
    return result


def outcomes_by_identity(result: dict[str, object]) -> dict[str, tuple[str, str | None]]:
    alerts = result["alerts"]
    assert isinstance(alerts, list)
    return {a["identity"]: (a["outcome"], a["incident_id"]) for a in alerts}


def test_firing_group_with_one_resolved_alert_resolves_only_that_one_over_real_http(server: ServerProcess) -> None:
    first = outcomes_by_identity(post_alerts(server, am_group("firing", ("pay-a", "firing"), ("pay-b", "firing"))))
    assert [outcome for outcome, _ in first.values()] == ["created", "created"]
    ids = {identity: incident_id for identity, (_, incident_id) in first.items()}
    for incident_id in ids.values():
        assert incident_id is not None and wait_until_triaged(server.url, incident_id)["status"] == "pending"
    # The group still fires (pay-a), while pay-b's own status says it is over.
    mixed = post_alerts(server, am_group("firing", ("pay-a", "firing"), ("pay-b", "resolved")))
    assert outcomes_by_identity(mixed) == {"pay-a": ("occurrence", ids["pay-a"]), "pay-b": ("resolved", ids["pay-b"])}
    still = httpx.get(f"{server.url}/incidents/{ids['pay-a']}").json()
    closed = httpx.get(f"{server.url}/incidents/{ids['pay-b']}").json()
    assert (still["status"], still["occurrences"]) == ("pending", 2)
    assert closed["status"] == "resolved_by_source"
    events = httpx.get(f"{server.url}/incidents/{ids['pay-b']}/timeline").json()
    assert events[-1]["event"] == "resolved_by_source" and events[-1]["actor"] == "source:alertmanager"


def test_truncated_group_missing_a_firing_alert_does_not_resolve_it_over_real_http(server: ServerProcess) -> None:
    first = outcomes_by_identity(post_alerts(server, am_group("firing", ("pay-a", "firing"), ("pay-b", "firing"))))
    missing = first["pay-b"][1]
    assert missing is not None and wait_until_triaged(server.url, missing)["status"] == "pending"
    # Alertmanager dropped pay-b from this body (truncatedAlerts=1): absence is not resolution.
    answer = post_alerts(server, am_group("firing", ("pay-a", "firing"), truncated=1))
    assert answer["truncated"] == 1
    assert outcomes_by_identity(answer) == {"pay-a": ("occurrence", first["pay-a"][1])}
    incident = httpx.get(f"{server.url}/incidents/{missing}").json()
    assert (incident["status"], incident["occurrences"]) == ("pending", 1)


def test_redelivery_with_the_same_delivery_id_counts_once_over_real_http(server: ServerProcess) -> None:
    payload = am_group("firing", ("pay-a", "firing"))
    first = post_alerts(server, payload, **{"X-Webhook-Id": "am-delivery-7"})
    again = post_alerts(server, payload, **{"X-Webhook-Id": "am-delivery-7"})
    assert (first["redelivery"], again["redelivery"]) == (False, True)
    assert again["alerts"] == first["alerts"] and again["delivery_id"] == "am-delivery-7"
    (incident_id,) = [incident for _, incident in outcomes_by_identity(first).values()]
    incident = httpx.get(f"{server.url}/incidents/{incident_id}").json()
    assert incident["occurrences"] == 1
    received = httpx.get(f"{server.url}/incidents/{incident_id}/alerts").json()["items"]
    assert len(received) == 1  # the retry stored no second alert row
    # A new delivery id is a new delivery: it counts.
    post_alerts(server, payload, **{"X-Webhook-Id": "am-delivery-8"})
    assert httpx.get(f"{server.url}/incidents/{incident_id}").json()["occurrences"] == 2


GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"  # 36 characters after the prefix
URL_PASSWORD = "hunter2-pool-pw"


def test_stored_payloads_are_paged_newest_first_redacted_and_capped(client: TestClient) -> None:
    leaky = am_group("firing", ("pay-a", "firing"))
    alert = leaky["alerts"][0]  # type: ignore[index]
    alert["annotations"]["description"] = f"deploy with {GITHUB_TOKEN} failed"
    alert["generatorURL"] = f"https://deploy:{URL_PASSWORD}@prometheus.example.com/graph"
    big = am_group("firing", ("pay-a", "firing"))
    big["alerts"][0]["annotations"]["description"] = "x" * (RAW_CAP + 5000)  # type: ignore[index]
    answers = [client.post("/alerts/alertmanager", json=payload).json() for payload in (leaky, big, leaky)]
    incident_id = answers[0]["alerts"][0]["incident_id"]
    assert {a["alerts"][0]["incident_id"] for a in answers} == {incident_id}

    first = client.get(f"/incidents/{incident_id}/alerts", params={"limit": 2}).json()
    rest = client.get(f"/incidents/{incident_id}/alerts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    items = first["items"] + rest["items"]
    assert rest["next_cursor"] is None and len(items) == 3
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, reverse=True)  # newest first, no row twice across pages
    newest, capped, oldest = (item["payload"] for item in items)
    assert newest == oldest and "truncated" not in newest
    # Redacted where it is stored: neither secret comes back, the placeholder says what was there.
    everything = json.dumps(items)
    assert GITHUB_TOKEN not in everything and URL_PASSWORD not in everything
    assert "[REDACTED:github-token]" in newest["annotations"]["description"]
    assert newest["generatorURL"] == "https://deploy:[REDACTED:url-password]@prometheus.example.com/graph"
    # Capped: the stored copy says it was cut, how big the original was, and keeps the head.
    assert capped["truncated"] is True and capped["size"] > RAW_CAP
    assert len(capped["head"]) == RAW_CAP and capped["head"].startswith("{")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",  # not base64 JSON
        "WyJ4Il0",  # ["x"]: the wrong type
    ],
)
def test_a_bad_alerts_cursor_is_refused(client: TestClient, cursor: str) -> None:
    incident_id = client.post("/alerts/alertmanager", json=am_group("firing", ("pay-a", "firing"))).json()
    answer = client.get(f"/incidents/{incident_id['alerts'][0]['incident_id']}/alerts", params={"cursor": cursor})
    assert answer.status_code == 422, answer.text


GROUPED = """
[sources.am]
type = "alertmanager"
group_by = ["alertname", "cluster"]
"""


@pytest.fixture
def grouped(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    home = tmp_path / "grouped"
    home.mkdir()
    (home / "healer.toml").write_text(GROUPED)
    app = build_app(Settings(home=home), load_config(home / "healer.toml"), store, run_triage=False)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def outage_alert(instance: str, cluster: str, status: str = "firing") -> dict[str, object]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "cluster": cluster, "instance": instance, "service": "payments"},
        "annotations": {"summary": f"disk full on {instance}"},
        "fingerprint": f"fp-{instance}",
    }


def test_group_by_folds_two_alerts_of_one_outage_into_one_incident(grouped: TestClient) -> None:
    one = grouped.post("/alerts/am", json={"alerts": [outage_alert("db-1", "eu")]}).json()
    # A different alert (its own fingerprint) of the same outage, plus one from another cluster.
    two = grouped.post("/alerts/am", json={"alerts": [outage_alert("db-2", "eu"), outage_alert("db-9", "us")]}).json()
    (first,) = one["alerts"]
    same, other = two["alerts"]
    assert first["outcome"] == "created" and (same["outcome"], same["incident_id"]) == (
        "occurrence",
        first["incident_id"],
    )
    assert other["outcome"] == "created" and other["incident_id"] != first["incident_id"]
    incident = grouped.get(f"/incidents/{first['incident_id']}").json()
    assert incident["occurrences"] == 2
    members = grouped.get(f"/incidents/{first['incident_id']}/alerts").json()["items"]
    assert [m["identity"] for m in members] == ["fp-db-2", "fp-db-1"]


def test_group_by_folds_members_arriving_in_one_delivery(grouped: TestClient) -> None:
    answer = grouped.post("/alerts/am", json={"alerts": [outage_alert("db-1", "eu"), outage_alert("db-2", "eu")]})
    assert answer.status_code == 202, answer.text
    first, second = answer.json()["alerts"]
    assert (first["outcome"], second["outcome"]) == ("created", "occurrence")
    assert first["incident_id"] == second["incident_id"]
    members = grouped.get(f"/incidents/{first['incident_id']}/alerts").json()["items"]
    assert sorted(m["identity"] for m in members) == ["fp-db-1", "fp-db-2"]


@pytest.mark.parametrize(
    "second",
    [
        [outage_alert("db-1", "eu", "resolved"), outage_alert("db-2", "eu")],  # db-2 fires in the same delivery
        [outage_alert("db-1", "eu", "resolved")],  # db-2 fired in the earlier delivery and never resolved
    ],
)
def test_group_by_outage_stays_open_while_a_member_still_fires(
    grouped: TestClient, second: list[dict[str, object]]
) -> None:
    # Regression: db-1's resolution closed the whole outage while db-2 still fired.
    first = grouped.post("/alerts/am", json={"alerts": [outage_alert("db-1", "eu"), outage_alert("db-2", "eu")]})
    incident_id = first.json()["alerts"][0]["incident_id"]
    half = grouped.post("/alerts/am", json={"alerts": second}).json()
    assert half["alerts"][0]["outcome"] == "resolved" and "fp-db-2" in half["alerts"][0]["reason"]
    assert grouped.get(f"/incidents/{incident_id}").json()["status"] == "received"
    done = grouped.post("/alerts/am", json={"alerts": [outage_alert("db-2", "eu", "resolved")]}).json()
    assert done["alerts"][0]["outcome"] == "resolved"
    assert grouped.get(f"/incidents/{incident_id}").json()["status"] == "resolved_by_source"


GH_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def test_an_alert_carrying_secrets_is_stored_redacted_in_every_field(client: TestClient) -> None:
    # Monitors copy whatever the application logged; a token in any field is hidden before it is stored.
    event = json.loads(body("sentry/event_for_exception_python.json"))
    frame = event["data"]["event"]["exception"]["values"][0]["stacktrace"]["frames"][-1]
    frame["filename"] = f"app/{GH_TOKEN}.py"
    frame["context_line"] = f"    client = Client(token='{GH_TOKEN}')"
    group = am_group("firing", ("fp1", "firing"))
    group["alerts"][0]["labels"] |= {"service": f"payments-{GH_TOKEN}", "password": "hunter22"}  # type: ignore[index]
    group["alerts"][0]["annotations"]["runbook_url"] = f"https://ops.example/run?token={GH_TOKEN}"  # type: ignore[index]
    ids = []
    for source, payload in (("sentry", event), ("alertmanager", group)):
        answer = client.post(
            f"/alerts/{source}", content=json.dumps(payload), headers={"content-type": "application/json"}
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["alerts"][0]["incident_id"])
    for incident_id in ids:
        stored = json.dumps(client.get(f"/incidents/{incident_id}").json())
        stored += json.dumps(client.get(f"/incidents/{incident_id}/alerts").json())
        assert GH_TOKEN not in stored and "hunter22" not in stored
        assert "[REDACTED:github-token]" in stored
