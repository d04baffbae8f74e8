"""Slow SNS certificate hosts stall no other request: the fetch runs off the event loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.intake.sources.intake import AlertIntake
from server.store import Store

from .sns_ca import TOPIC, signer
from .test_sources_sns import notification
from .uvicorn_thread import serving

STALL_SECONDS = 3.0


@pytest.fixture
def slow_certificate_host() -> Iterator[str]:
    """An HTTP server that answers the signing certificate after STALL_SECONDS."""
    pem = signer().certificate_pem

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(STALL_SECONDS)
            self.send_response(200)
            self.send_header("content-length", str(len(pem)))
            self.end_headers()
            self.wfile.write(pem)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_two_slow_certificate_fetches_do_not_stall_health(
    healer_home: Path, store: Store, slow_certificate_host: str
) -> None:
    config_file = healer_home / "healer.toml"
    config_file.write_text(config_file.read_text() + f'\n[sources.cw]\ntype = "cloudwatch"\ntopic_arns = ["{TOPIC}"]\n')
    app = build_app(Settings(home=healer_home), load_config(config_file), store, run_triage=False)
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        """The SNS host, played by the slow local server over real HTTP."""
        fetched.append(url)
        return httpx.get(f"{slow_certificate_host}/{url.rsplit('/', 1)[1]}", timeout=10).content

    alerts = app.state.healer.alerts
    alerts.intake = AlertIntake(alerts.intake.sources, fetch=fetch, clock=store.clock)
    # Two certificate URLs, so neither fetch is served from the other's cache entry.
    deliveries = [
        signer().sign(
            notification(MessageId=f"m-{n}"),
            cert_url=f"https://sns.us-west-2.amazonaws.com/SimpleNotificationService-{n}.pem",
        )
        for n in range(2)
    ]
    headers = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}
    with serving(app) as url, ThreadPoolExecutor(2) as pool:
        pending = [
            pool.submit(httpx.post, f"{url}/alerts/cw", content=json.dumps(d), headers=headers, timeout=30)
            for d in deliveries
        ]
        deadline = time.monotonic() + 20
        while len(fetched) < 2 and time.monotonic() < deadline:  # both fetches under way
            time.sleep(0.02)
        latencies = []
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(5):
                started = time.monotonic()
                assert client.get("/health").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.1)
        assert max(latencies) < 0.5, f"/health took {max(latencies):.2f} s while certificates were fetched"
        assert not any(future.done() for future in pending), "the fetches ended before /health was measured"
        answers = [future.result() for future in pending]
    assert [answer.status_code for answer in answers] == [202, 202], [answer.text for answer in answers]
    assert len(fetched) == 2
