"""Small malformed inputs answer 4xx in the error shape, never 500, and the sender's connection survives.

Over a real uvicorn server: one keep-alive client sends each bad request, then a good
one, and both must travel on the same TCP connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.store import Store

from .conftest import FIXTURES
from .uvicorn_thread import serving

SECRET = "a-webhook-secret-of-some-length"
BIG = str(2**70)
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 300 + b"1" + b"}" * 300
SURROGATE = b'{"title": "\\ud800", "service": "payments", "error": "x"}'
JSON = {"content-type": "application/json"}
LENIENT = {"x-test-lenient": "1"}  # a 2xx is a fine answer too; only the class 5xx is wrong


@pytest.fixture
def server(healer_home: Path, store: Store) -> Iterator[str]:
    config_file = healer_home / "healer.toml"
    config_file.write_text(config_file.read_text() + '\n[sources.am]\ntype = "alertmanager"\n')
    settings = Settings(home=healer_home, github_webhook_secret=SecretStr(SECRET))
    app = build_app(settings, load_config(config_file), store, run_triage=False)
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        for n in range(3):
            assert client.post("/incidents", json={"service": "payments", "error": f"boom {n}"}).status_code == 202
        alerts = (FIXTURES / "alerts" / "alertmanager" / "prom_post_request.json").read_bytes()
        assert client.post("/alerts/am", content=alerts, headers=JSON).status_code == 202
        yield url


def poisoned(cursor: str, replace: Any) -> str:
    """A cursor the server handed out with each of its values swapped by ``replace``."""
    values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    swapped = [replace(value) for value in values]
    return base64.urlsafe_b64encode(json.dumps(swapped).encode()).decode().rstrip("=")


def _big_int(value: Any) -> Any:
    return 2**70 if isinstance(value, int) else value


def _surrogate(_value: Any) -> Any:
    return "\ud800"


def signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        **JSON,
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": hashlib.sha1(body).hexdigest(),
    }


def _requests(client: httpx.Client) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    first = client.get("/incidents", params={"limit": 1}).json()
    iid, cursor = first["items"][0]["id"], first["next_cursor"]
    with_alerts = client.get("/incidents", params={"limit": 200}).json()["items"]
    alerted = next(i["id"] for i in with_alerts if client.get(f"/incidents/{i['id']}/alerts").json()["items"])
    return [
        ("GET", f"/incidents/{iid}/timeline?after={BIG}", None, {}),
        ("GET", f"/incidents/{iid}/timeline?limit={BIG}", None, {}),
        ("GET", f"/events?after={BIG}", None, {}),
        ("GET", f"/incidents?limit={BIG}", None, {}),
        ("GET", f"/incidents?cursor={poisoned(cursor, _big_int)}", None, {}),
        ("GET", f"/incidents?cursor={poisoned(cursor, _surrogate)}", None, {}),
        ("GET", f"/incidents/{alerted}/alerts?limit={BIG}", None, {}),
        # The dashboard's pages are lenient (a page size it does not offer shows 50 rows); never a 500.
        ("GET", f"/?limit={BIG}", None, LENIENT),
        ("GET", f"/?after={poisoned(cursor, _big_int)}", None, LENIENT),
        ("GET", f"/?after={poisoned(cursor, _surrogate)}", None, LENIENT),
        ("POST", "/incidents", DEEP, JSON),
        ("POST", "/incidents", DEEP_OBJECT, JSON),
        ("POST", "/incidents", SURROGATE, JSON),
        (
            "POST",
            "/incidents",
            b'{"service": "payments", "error": "x", "stack": [{"lineno": ' + BIG.encode() + b"}]}",
            JSON,
        ),
        ("POST", f"/incidents/{iid}/claim", b'{"agent": "a", "lease_seconds": ' + BIG.encode() + b"}", JSON),
        ("POST", f"/incidents/{iid}/claim", b'{"agent": "\\ud800"}', JSON),
        ("POST", "/alerts/am", DEEP, JSON),
        ("POST", "/alerts/am", DEEP_OBJECT, JSON),
        ("POST", "/alerts/am", b'{"alerts": [{"status": "firing", "labels": {"alertname": "\\udfff"}}]}', JSON),
        # Label values are text: a huge number is kept as its digits.
        (
            "POST",
            "/alerts/am",
            b'{"alerts": [{"status": "firing", "labels": {"n": ' + BIG.encode() + b"}}]}",
            LENIENT | JSON,
        ),
        ("POST", "/github/webhook", DEEP, signed(DEEP)),
        ("POST", "/github/webhook", SURROGATE, signed(SURROGATE)),
        ("POST", "/mcp", DEEP, {**JSON, "accept": "application/json, text/event-stream"}),
    ]


def test_each_malformed_input_is_a_4xx_and_the_connection_survives(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    failures = []
    with httpx.Client(base_url=server, timeout=10) as client:
        for method, path, body, headers in _requests(client):
            bad = client.request(method, path, content=body, headers=headers)
            before = bad.extensions["network_stream"].get_extra_info("client_addr")
            good = client.get("/health")
            after = good.extensions["network_stream"].get_extra_info("client_addr")
            if "x-test-lenient" in headers:
                answered = bad.status_code < 500
            else:
                shape = bad.headers.get("content-type", "").startswith("application/json") and "error" in bad.json()
                answered = 400 <= bad.status_code < 500 and shape
            if not (answered and good.status_code == 200 and before == after):
                failures.append(f"{method} {path[:60]} -> {bad.status_code} {bad.text[:120]!r} (same connection: "
                                f"{before == after})")  # fmt: skip
    assert not failures, "\n".join(failures)
    assert not [r for r in caplog.records if r.exc_info], "a request raised inside the server"
