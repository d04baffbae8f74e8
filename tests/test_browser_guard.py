"""A web page cannot drive the API: foreign Host 421, foreign Origin or cross-site write 403, non-JSON write 415."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.api.browser import HostRule
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.store import Store

from .sns_ca import TOPIC

INCIDENT = {"service": "payments", "error": "pool exhausted", "severity": "high"}
JSON = "application/json"
SOURCES = f"""
[sources.alertmanager]
type = "alertmanager"

[sources.cw]
type = "cloudwatch"
topic_arns = ["{TOPIC}"]
"""


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    config_file = healer_home / "healer.toml"
    config_file.write_text(config_file.read_text() + SOURCES)
    settings = Settings(home=healer_home, allowed_hosts=["healer.example.com", "ops.example.com:8443"])
    app = build_app(settings, load_config(config_file), store, run_triage=False)
    with TestClient(app, base_url="http://127.0.0.1:8080") as test_client:
        yield test_client


def stored(client: TestClient) -> int:
    return len(client.get("/incidents").json()["items"])


def error_of(answer: Any) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json", answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"content-type": JSON, "accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(
    ("method", "path", "host"),
    [
        ("GET", "/incidents", "evil.example"),
        ("POST", "/incidents", "evil.example:8080"),
        ("GET", "/", "rebound.attacker.test"),
        ("GET", "/ui/overview", "10.0.0.5:8080"),
        ("GET", "/events", "evil.example"),
        ("GET", "/metrics", "evil.example"),
        ("POST", "/mcp", "evil.example"),
        ("POST", "/alerts/alertmanager", "evil.example"),
        ("GET", "/incidents", "healer.example.com.evil.example"),
        ("GET", "/incidents", "ops.example.com:9999"),  # configured with one port only
        ("GET", "/incidents", ""),
    ],
)
def test_a_foreign_host_is_misdirected_on_every_route(client: TestClient, method: str, path: str, host: str) -> None:
    body = MCP_INIT if path == "/mcp" else INCIDENT if method == "POST" else None
    answer = client.request(method, path, json=body, headers={"host": host, **MCP_HEADERS})
    assert answer.status_code == 421
    assert error_of(answer)["type"] == "MisdirectedRequest" and "HEALER_ALLOWED_HOSTS" in error_of(answer)["message"]
    assert stored(client) == 0


ALLOWED = [
    "127.0.0.1:8080",
    "localhost:8080",
    "[::1]:8080",
    "localhost",
    "healer.example.com",
    "HEALER.example.com:443",
]


@pytest.mark.parametrize("host", [*ALLOWED, "ops.example.com:8443"])
def test_loopback_and_configured_names_are_answered(client: TestClient, host: str) -> None:
    assert client.get("/incidents", headers={"host": host}).status_code == 200


def test_probes_answer_whatever_host_a_load_balancer_sends(client: TestClient) -> None:
    for path in ("/health", "/healthz", "/readyz"):
        assert client.get(path, headers={"host": "10.1.2.3:8080"}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/incidents", {"origin": "https://evil.example"}),
        ("POST", "/incidents", {"origin": "null"}),
        ("POST", "/incidents", {"origin": "http://localhost:3000"}),  # another loopback port is another origin
        ("POST", "/incidents", {"origin": "http://127.0.0.1:8080.evil.example"}),
        ("POST", "/incidents", {"sec-fetch-site": "cross-site"}),
        ("GET", "/incidents", {"origin": "https://evil.example"}),
        ("POST", "/mcp", {"origin": "https://evil.example"}),
        ("DELETE", "/mcp", {"origin": "https://evil.example"}),
        ("POST", "/alerts/alertmanager", {"origin": "https://evil.example"}),
        ("POST", "/alerts/alertmanager", {"sec-fetch-site": "cross-site"}),
        ("POST", "/dead-letters/INC-20261122-0001/retry", {"sec-fetch-site": "cross-site"}),
    ],
)
def test_a_foreign_origin_is_refused(client: TestClient, method: str, path: str, headers: dict[str, str]) -> None:
    body = MCP_INIT if path == "/mcp" else {"alerts": []} if path.startswith("/alerts") else INCIDENT
    answer = client.request(
        method, path, content=json.dumps(body) if method == "POST" else None, headers={**MCP_HEADERS, **headers}
    )
    assert answer.status_code == 403
    assert error_of(answer)["type"] == "CrossOriginRefused"
    assert stored(client) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:8080"},  # the dashboard's own fetches
        {"origin": "https://healer.example.com"},  # behind a reverse proxy that rewrites Host
        {"origin": "https://ops.example.com:8443"},
        {"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1:8080"},
        {},  # curl, monitors, agents: no Origin at all
    ],
)
def test_same_origin_and_non_browser_writes_are_served(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post("/incidents", json=INCIDENT, headers=headers).status_code == 202


def test_a_link_from_another_site_still_opens_the_dashboard(client: TestClient) -> None:
    assert client.get("/", headers={"sec-fetch-site": "cross-site", "accept": "text/html"}).status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/incidents", "text/plain;charset=UTF-8"),  # navigator.sendBeacon
        ("/incidents", "application/x-www-form-urlencoded"),  # <form method=post>
        ("/incidents", "multipart/form-data; boundary=x"),
        ("/incidents", None),  # a body without a type
        ("/alerts/alertmanager", "text/plain"),
        ("/alerts/alertmanager", "application/x-www-form-urlencoded"),
        ("/alerts/cw", "application/x-www-form-urlencoded"),
        ("/incidents/INC-20261122-0001/claim", "text/plain"),
        ("/mcp", "text/plain"),
    ],
)
def test_a_write_that_is_not_json_is_unsupported(client: TestClient, path: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post(path, content=json.dumps(INCIDENT).encode(), headers=headers)
    assert answer.status_code == 415
    assert error_of(answer)["type"] == "UnsupportedMediaType" and "application/json" in error_of(answer)["message"]
    assert stored(client) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]
)
def test_json_with_parameters_is_accepted(client: TestClient, content_type: str) -> None:
    answer = client.post("/incidents", content=json.dumps(INCIDENT), headers={"content-type": content_type})
    assert answer.status_code == 202


def test_sns_text_plain_reaches_a_cloudwatch_source_only(client: TestClient) -> None:
    """SNS posts its envelope as text/plain; the source then checks it (here: refuses it, 401)."""
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-west-2:1:other", "Message": "{}"}
    headers = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
    answer = client.post("/alerts/cw", content=json.dumps(envelope), headers=headers)
    assert answer.status_code == 401 and error_of(answer)["type"] == "SourceUnauthorized"


def test_a_bodyless_write_needs_no_content_type(client: TestClient) -> None:
    answer = client.post("/dead-letters/INC-20261122-0001/retry")
    assert answer.status_code in (404, 422)  # past the guard: the route itself answered
    assert error_of(answer)["type"] != "UnsupportedMediaType"


def test_dashboard_forms_work_same_origin_and_are_refused_cross_origin(client: TestClient) -> None:
    iid = client.post("/incidents", json=INCIDENT).json()["id"]
    page = client.get(f"/ui/incidents/{iid}").text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found
    form = {"action": "resolve", "reason": "fixed by hand", "csrf": found.group(1)}
    cross = client.post(
        f"/ui/incidents/{iid}/actions", data=form, headers={"origin": "https://evil.example"}, follow_redirects=False
    )
    assert cross.status_code == 403
    assert client.get(f"/incidents/{iid}").json()["status"] != "resolved"
    same = client.post(
        f"/ui/incidents/{iid}/actions",
        data=form,
        headers={"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"},
        follow_redirects=False,
    )
    assert same.status_code == 303
    assert client.get(f"/incidents/{iid}").json()["status"] == "resolved"


def test_host_rule_spells_names_the_way_clients_send_them() -> None:
    rule = HostRule("::1", ["Healer.Example.com", "edge:*", "ops:8443"])
    assert rule.allows("[::1]:9000") and rule.allows("healer.example.com") and rule.allows("edge:1")
    assert rule.allows("ops:8443") and not rule.allows("ops:8444") and not rule.allows("evil.example")
    assert HostRule("10.0.0.5").allows("10.0.0.5:8080") and not HostRule("0.0.0.0").allows("10.0.0.5:8080")
    assert rule.own_origin("http://localhost:8080", "localhost:8080")
    assert not rule.own_origin("http://localhost:8081", "localhost:8080")
    assert rule.own_origin("https://healer.example.com", "127.0.0.1:8080")
    assert not rule.own_origin("null", "127.0.0.1:8080")
