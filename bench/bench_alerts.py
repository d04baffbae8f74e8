"""Alert storms: monitors' own payloads against POST /incidents, on one server, in one run.

16 concurrent senders (httpx, one connection each) drive a real `healer serve` over loopback:
  1. POST /incidents, one new incident per request: the baseline request rate;
  2. Alertmanager payloads with 1 alert each: request rate as a ratio to (1) (target >= 0.8x);
  3. Alertmanager payloads with 50 alerts each: alerts/s;
  4. Sentry single events: request rate as a ratio to (1);
  5. the storm: 10,000 firing alerts over 500 identities in 1- and 50-alert payloads, plus 300
     redeliveries; then the stored occurrence counts must add up to exactly 10,000.
p50/p99 latency is reported for every phase. SQLite in WAL mode with synchronous=FULL.
Run: .venv/bin/python bench/bench_alerts.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HEALER = str(Path(sys.executable).with_name("healer"))
ALERTMANAGER = json.loads((ROOT / "tests/fixtures/alerts/alertmanager/prom_post_request.json").read_text())
SENTRY = json.loads((ROOT / "tests/fixtures/alerts/sentry/webhook_event_for_exception_python.json").read_text())
SENDERS = 16

Request = tuple[str, bytes, dict[str, str]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alertmanager(identities: list[str]) -> bytes:
    body = copy.deepcopy(ALERTMANAGER)
    template = body["alerts"][0]
    body["alerts"] = []
    for identity in identities:
        alert = copy.deepcopy(template)
        alert["fingerprint"] = identity
        alert["labels"] = {**alert["labels"], "instance": identity, "service": "payments"}
        body["alerts"].append(alert)
    return json.dumps(body).encode()


def sentry(identity: int) -> bytes:
    body = copy.deepcopy(SENTRY)
    body["id"] = str(identity)
    body["url"] = f"https://sentry.io/organizations/acme/issues/{identity}/?referrer=webhooks_plugin"
    return json.dumps(body).encode()


def incident(n: int) -> bytes:
    return json.dumps(
        {"service": "payments", "severity": "high", "error": f"pool exhausted on db-{n % 7}", "fingerprint": f"i-{n}"}
    ).encode()


async def drive(base: str, requests: list[Request]) -> tuple[float, list[float]]:
    """Send every request from SENDERS concurrent senders; (seconds, latencies in ms). Any non-2xx fails."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    latencies: list[float] = []

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=1)) as client:
            while not queue.empty():
                path, body, headers = queue.get_nowait()
                started = time.perf_counter()
                answer = await client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code >= 300:
                    raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return time.perf_counter() - started, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(base: str, name: str, requests: list[Request], unit: Callable[[float], str]) -> float:
    seconds, latencies = asyncio.run(drive(base, requests))
    rate = len(requests) / seconds
    print(f"{name:<36} {unit(rate):>22}  p50 {pct(latencies, 0.5):6.1f} ms  p99 {pct(latencies, 0.99):6.1f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="requests in each rate phase")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALER_")}
    env.update(HEALER_HOME=str(home), HEALER_LOG_LEVEL="WARNING")
    log = (home / "server.log").open("wb")
    server = subprocess.Popen([HEALER, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    n = args.requests
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        asyncio.run(drive(base, [("/incidents", incident(-i), {}) for i in range(1, 201)]))  # warm-up
        per_s: Callable[[float], str] = lambda rate: f"{rate:8.0f} req/s"  # noqa: E731
        print(f"{SENDERS} concurrent senders, {n} requests per rate phase, healer serve on SQLite (WAL, FULL)")
        baseline = phase(base, "POST /incidents", [("/incidents", incident(i), {}) for i in range(n)], per_s)
        one = phase(
            base,
            "Alertmanager, 1 alert per payload",
            [("/alerts/alertmanager", alertmanager([f"am1-{i}"]), {}) for i in range(n)],
            per_s,
        )
        fifty = phase(
            base,
            "Alertmanager, 50 alerts per payload",
            [("/alerts/alertmanager", alertmanager([f"am50-{i}-{k}" for k in range(50)]), {}) for i in range(n // 20)],
            lambda rate: f"{rate * 50:8.0f} alerts/s",
        )
        events = phase(
            base, "Sentry, single events", [("/alerts/sentry", sentry(10**9 + i), {}) for i in range(n)], per_s
        )

        # The storm: 10,000 firing alerts over 500 identities; every redelivery must count once.
        storm: list[Request] = []
        for i in range(5000):
            storm.append(("/alerts/alertmanager", alertmanager([f"storm-{i % 500}"]), {"X-Webhook-Id": f"one-{i}"}))
        for i in range(100):
            ids = [f"storm-{(i * 50 + k) % 500}" for k in range(50)]
            storm.append(("/alerts/alertmanager", alertmanager(ids), {"X-Webhook-Id": f"fifty-{i}"}))
        storm += [storm[i * 17] for i in range(300)]  # redeliveries: same delivery id, same body
        seconds, latencies = asyncio.run(drive(base, storm))
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    with sqlite3.connect(home / "healer.db") as db:
        counted, incidents = db.execute(
            "SELECT coalesce(sum(occurrences), 0), count(*) FROM incidents WHERE pk IN "
            "(SELECT incident_pk FROM alerts WHERE identity LIKE '%storm-%')"
        ).fetchone()
        stored_alerts = db.execute("SELECT count(*) FROM alerts WHERE identity LIKE '%storm-%'").fetchone()[0]
    shutil.rmtree(home, ignore_errors=True)
    print(
        f"{'storm: 10,000 alerts, 300 redeliveries':<36} {len(storm) / seconds:8.0f} req/s"
        f"  p50 {pct(latencies, 0.5):6.1f} ms  p99 {pct(latencies, 0.99):6.1f} ms"
    )
    print(
        f"storm: {incidents} incidents, {stored_alerts} alerts stored, occurrences {counted} of 10000 sent "
        f"(lost {10_000 - counted}, counted twice {max(0, counted - 10_000)})"
    )
    print(f"ratio Alertmanager 1-alert / POST /incidents: {one / baseline:.2f}x (target >= 0.8x)")
    print(f"ratio Sentry event / POST /incidents:         {events / baseline:.2f}x")
    print(f"Alertmanager 50-alert payloads: {fifty * 50 / baseline:.1f}x the alerts per second of POST /incidents")
    ok = one / baseline >= 0.8 and counted == 10_000
    print(
        f"{'PASS' if ok else 'MISS'}: Alertmanager 1-alert {one / baseline:.2f}x of POST /incidents (target >= 0.8x), "
        f"storm occurrences {counted} of 10000 (target exactly 10000)"
    )


if __name__ == "__main__":
    main()
