"""The REST face in-process: intake answers, bad input, limits, auth, and an accurate OpenAPI schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.store import Store
from server.triage.worker import triage_received
from tests.conftest import FakeClock


def make_client(home: Path, store: Store, **settings: Any) -> TestClient:
    config = load_config(home / "healer.toml")
    built = Settings(home=home, **settings)
    # No background triage: each test triages when it wants to, so what it reads is deterministic.
    return TestClient(build_app(built, config, store, run_triage=False), base_url="http://127.0.0.1")


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    with make_client(healer_home, store) as test_client:
        yield test_client


def test_post_answers_202_and_the_incident_is_readable(client: TestClient) -> None:
    answer = client.post("/incidents", json={"service": "payments", "error": "pool exhausted", "severity": "critical"})
    assert answer.status_code == 202
    body = answer.json()
    assert set(body) == {"id", "status", "trace_id", "duplicate", "occurrences"}
    assert (body["status"], body["duplicate"]) == ("received", False)
    triage_received(client.app.state.healer.store)  # type: ignore[attr-defined]
    incident = client.get(f"/incidents/{body['id']}").json()
    assert incident["status"] == "pending"
    assert (incident["service"], incident["repo"], incident["severity"]) == ("payments", "payments", "critical")
    timeline = client.get(f"/incidents/{body['id']}/timeline").json()
    assert [e["event"] for e in timeline] == ["received", "triaged", "pending"]


def test_duplicate_and_idempotency_key(client: TestClient) -> None:
    body = {"service": "payments", "error": "pool exhausted", "severity": "high"}
    first = client.post("/incidents", json=body, headers={"Idempotency-Key": "abc"}).json()
    retry = client.post("/incidents", json=body, headers={"Idempotency-Key": "abc"}).json()
    assert retry == first
    repeat = client.post("/incidents", json=body).json()
    assert (repeat["id"], repeat["duplicate"], repeat["occurrences"]) == (first["id"], True, 2)
    other = client.post("/incidents", json={**body, "error": "x"}, headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409 and "different body" in other.json()["error"]["message"]


def test_traceparent_sets_the_trace_id(client: TestClient) -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = client.post("/incidents", json={"log": "ERROR x", "source": "otel"}, headers={"traceparent": header}).json()
    assert body["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"service": "s", "error": "e", "severity": "urgent"}, "severity", "use critical, high, medium or low"),
        ({"service": "s", "eror": "typo"}, "eror", "Extra inputs are not permitted"),
        ({"service": "s"}, "error", "at least one of `error`, `log` or `title`"),
        ({"service": "s", "error": "e", "labels": {"a": 1}}, "labels.a", "valid string"),
        ({"service": "s", "error": "e", "repo": "nope"}, "repo", "configured repositories: payments"),
        ([1, 2], "body", "Input should be an object"),
    ],
)
def test_bad_input_is_422_naming_the_field(client: TestClient, body: object, field: str, reason: str) -> None:
    answer = client.post("/incidents", json=body)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == field and reason in error["message"]
    assert client.get("/incidents").json()["items"] == []


def test_invalid_json_is_422(client: TestClient) -> None:
    answer = client.post("/incidents", content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and "not valid JSON" in answer.json()["error"]["message"]


def test_oversize_body_is_413_and_nothing_is_stored(healer_home: Path, store: Store) -> None:
    with make_client(healer_home, store, max_body_bytes=2048) as small:
        answer = small.post("/incidents", json={"service": "s", "log": "x" * 5000})
        assert answer.status_code == 413 and "HEALER_MAX_BODY_BYTES" in answer.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            yield b'{"service": "s", "log": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = small.post("/incidents", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert small.get("/incidents").json()["items"] == []


@pytest.mark.parametrize(
    "path", ["/incidents/INC-20261122-0404", "/incidents/nonsense", "/incidents/INC-20261122-0404/timeline"]
)
def test_unknown_incident_is_404(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404 and "get_pending_incidents" in answer.json()["error"]["message"]


def test_list_filters_and_cursor(client: TestClient, clock: FakeClock) -> None:
    for n in range(5):
        client.post(
            "/incidents", json={"service": "payments" if n % 2 else "web", "error": f"e{n}", "fingerprint": str(n)}
        )
        clock.advance(seconds=1)
    page = client.get("/incidents", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get("/incidents", params={"limit": 10, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    web = client.get("/incidents", params={"service": "web"}).json()["items"]
    assert {i["service"] for i in web} == {"web"} and len(web) == 3
    assert client.get("/incidents", params={"status": "bogus"}).status_code == 422


def test_bearer_token(healer_home: Path, store: Store) -> None:
    with make_client(healer_home, store, api_token=SecretStr("s3cret-token-for-api-tests")) as guarded:
        assert guarded.get("/incidents").status_code == 401
        assert guarded.get("/incidents", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = guarded.get("/incidents", headers={"Authorization": "Bearer s3cret-token-for-api-tests"})
        assert ok.status_code == 200
        assert guarded.get("/health").status_code == 200  # liveness stays open
        denied = guarded.post("/mcp", json={})
        assert denied.status_code == 401  # the MCP endpoint is behind the same token


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "components": spec["components"]} if "$ref" in str(schema) else schema


def test_openapi_describes_what_the_server_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    created = client.post("/incidents", json={"service": "payments", "error": "boom"})
    iid = created.json()["id"]
    calls = [
        ("post", "/incidents", created, "202"),
        ("get", "/incidents", client.get("/incidents"), "200"),
        ("get", "/incidents/{incident_id}", client.get(f"/incidents/{iid}"), "200"),
        ("get", "/incidents/{incident_id}/timeline", client.get(f"/incidents/{iid}/timeline"), "200"),
        ("get", "/health", client.get("/health"), "200"),
    ]
    for method, path, response, status in calls:
        assert response.status_code == int(status)
        described = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        schema = {**described, "components": spec["components"]}
        jsonschema.validate(response.json(), schema)
    assert "Idempotency-Key" in str(spec["paths"]["/incidents"]["post"]["parameters"])


def _validate_answer(spec: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The answer validates against what /openapi.json documents for its route and status."""
    status = str(response.status_code)
    described = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert described == {"$ref": "#/components/schemas/Error"}
    jsonschema.validate(response.json(), {**described, "components": spec["components"]})


def test_openapi_documents_the_error_answers(healer_home: Path, store: Store) -> None:
    with make_client(
        healer_home, store, api_token=SecretStr("s3cret-token-for-api-tests"), max_body_bytes=2000
    ) as guarded:
        spec = guarded.get("/openapi.json").json()
        auth = {"Authorization": "Bearer s3cret-token-for-api-tests"}
        calls = [
            # a body that is not a report: our 422, not FastAPI's {"detail": [...]}
            ("post", "/incidents", guarded.post("/incidents", json={"sevrity": "high"}, headers=auth), 422),
            # a query parameter out of range, refused by FastAPI's own validation
            ("get", "/incidents", guarded.get("/incidents?limit=0", headers=auth), 422),
            ("get", "/incidents/{incident_id}", guarded.get("/incidents/INC-20990101-0001", headers=auth), 404),
            (
                "get",
                "/incidents/{incident_id}/timeline",
                guarded.get("/incidents/INC-20990101-0001/timeline", headers=auth),
                404,
            ),
            # refused by the body limit before the route reads it
            ("post", "/incidents", guarded.post("/incidents", json={"log": "x" * 5000}, headers=auth), 413),
            # refused by the token guard
            ("get", "/incidents", guarded.get("/incidents"), 401),
            ("post", "/incidents", guarded.post("/incidents", json={"error": "e"}), 401),
        ]
        for method, path, response, status in calls:
            assert response.status_code == status, (path, response.text)
            _validate_answer(spec, method, path, response)
        assert guarded.get("/docs").status_code == 200  # open, like /openapi.json read above without a token
    assert "HTTPValidationError" not in str(spec)
    assert spec["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "HEALER_API_TOKEN"}
    }
    secured = {
        path: [operation.get("security") for operation in operations.values()]
        for path, operations in spec["paths"].items()
    }
    assert secured["/incidents"] == [[{"bearer": []}], [{"bearer": []}]]
    assert secured["/incidents/{incident_id}"] == [[{"bearer": []}]]
    for open_path in ("/health", "/healthz", "/readyz"):  # open to load balancers, as the guard leaves them
        assert secured[open_path] == [None]
        assert "401" not in spec["paths"][open_path]["get"]["responses"]
    assert {"401", "409", "413", "422"} <= set(spec["paths"]["/incidents"]["post"]["responses"])


def test_openapi_without_a_token_declares_no_security(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "securitySchemes" not in spec["components"]
    answering_401 = {path for path, ops in spec["paths"].items() for op in ops.values() if "401" in op["responses"]}
    assert answering_401 == {"/alerts/{source}", "/github/webhook", "/deployments"}  # they check their own signatures


def test_orchestrators_claim_and_release_over_rest(client: TestClient) -> None:
    iid = client.post("/incidents", json={"service": "payments", "error": "pool exhausted"}).json()["id"]
    triage_received(client.app.state.healer.store)  # type: ignore[attr-defined]
    claimed = client.post(f"/incidents/{iid}/claim", json={"agent": "kestra", "lease_seconds": 60})
    assert claimed.status_code == 200 and claimed.json()["claim"]["holder"] == "kestra"
    taken = client.post(f"/incidents/{iid}/claim", json={"agent": "other"})
    assert taken.status_code == 409 and "kestra" in taken.json()["error"]["message"]
    wrong = client.post(f"/incidents/{iid}/release", json={"agent": "other"})
    assert wrong.status_code == 409
    released = client.post(f"/incidents/{iid}/release", json={"agent": "kestra", "reason": "done looking"})
    assert released.status_code == 200 and released.json()["status"] == "pending"
    assert client.post("/incidents/INC-20990101-0001/claim", json={"agent": "kestra"}).status_code == 404


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    missing = client.get("/incidnets")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NotFound" and "/openapi.json" in missing.json()["error"]["message"]
    wrong = client.delete("/incidents")
    assert wrong.status_code == 405 and wrong.json()["error"]["message"] == "DELETE is not allowed on /incidents"


def test_docs_page_loads_only_from_this_server_even_behind_the_token(healer_home: Path, store: Store) -> None:
    """/docs works offline: Swagger UI's assets come from the package, not a CDN."""
    import re

    with make_client(healer_home, store, api_token=SecretStr("s3cret-token-for-the-docs")) as guarded:
        page = guarded.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        referenced = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert referenced and all(url.startswith("/") and not url.startswith("//") for url in referenced), referenced
        assert "http://" not in page.text and "https://" not in page.text
        for url in referenced:
            asset = guarded.get(url)
            assert asset.status_code == 200 and len(asset.content) > 500, url
