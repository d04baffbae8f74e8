"""A 202 means committed: killing the server mid-stream loses no acknowledged incident."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_server


@pytest.mark.slow
def test_sigkill_mid_stream_loses_no_acknowledged_incident(server: ServerProcess, tmp_path: Path) -> None:
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    answer = client.post(
                        "/incidents",
                        json={"service": "payments", "error": f"e-{worker}-{n}", "fingerprint": f"{worker}-{n}"},
                    )
                except httpx.TransportError:
                    return  # the server is gone: whatever was in flight was never acknowledged
                if answer.status_code == 202:
                    with lock:
                        acknowledged.append(answer.json()["id"])

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(acknowledged) >= 300

    restarted = start_server(server.env, tmp_path / "restarted.log")
    try:
        stored: set[str] = set()
        cursor = None
        with httpx.Client(base_url=restarted.url, timeout=10) as client:
            while True:
                params: dict[str, str | int] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = client.get("/incidents", params=params).json()
                stored |= {item["id"] for item in page["items"]}
                cursor = page["next_cursor"]
                if not cursor:
                    break
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged incidents lost"
    finally:
        restarted.stop()
