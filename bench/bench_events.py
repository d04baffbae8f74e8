"""200 concurrent /events subscribers on a real server: do all of them receive a new incident, and how fast.

`healer serve` runs as its own process (uvicorn, SQLite store). Subscribers connect with httpx
from this process; once every stream has answered, one incident is POSTed and each subscriber
notes when its `received` event for that incident arrives. The baseline is a single subscriber
measured the same way in the same run, so the ratio says what 200 cost over one.
Run: .venv/bin/python bench/bench_events.py [--subscribers 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import percentile, ratio_line  # noqa: E402

HEALER = str(Path(sys.executable).with_name("healer"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def subscriber(
    client: httpx.AsyncClient,
    url: str,
    ready: asyncio.Event,
    counter: list[int],
    wanted: dict[str, str],
    out: list[float],
) -> None:
    async with client.stream("GET", f"{url}/events") as answer:
        counter[0] += 1
        if counter[0] == counter[1]:
            ready.set()
        async for line in answer.aiter_lines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if data["incident_id"] == wanted.get("id") and data["event"] == "received":
                    out.append(time.perf_counter())
                    return


async def round_trip(url: str, subscribers: int, fingerprint: str) -> tuple[list[float], int]:
    """Latencies (s) from the POST to each subscriber's event, and how many received it."""
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=subscribers + 10)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0), limits=limits) as client:
        ready = asyncio.Event()
        counter = [0, subscribers]
        wanted: dict[str, str] = {}
        arrivals: list[float] = []
        tasks = [
            asyncio.create_task(subscriber(client, url, ready, counter, wanted, arrivals)) for _ in range(subscribers)
        ]
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(0.5)  # every stream subscribed on the server side
        posted = time.perf_counter()
        answer = await client.post(
            f"{url}/incidents", json={"service": "bench", "error": "boom", "fingerprint": fingerprint}
        )
        wanted["id"] = answer.json()["id"]
        _, pending = await asyncio.wait(tasks, timeout=20)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return [arrival - posted for arrival in arrivals], len(arrivals)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALER_")}
    env |= {"HEALER_HOME": str(home), "HEALER_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([HEALER, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        single: list[float] = []
        many: list[float] = []
        received = 0
        for n in range(args.rounds):
            latencies, _ = asyncio.run(round_trip(url, 1, f"one{n}"))
            single += latencies
            latencies, got = asyncio.run(round_trip(url, args.subscribers, f"many{n}"))
            many += latencies
            received += got
            print(f"round {n + 1}: {got}/{args.subscribers} received, p50 {percentile(latencies, 0.5) * 1000:.0f} ms")
    finally:
        server.terminate()
        server.wait(30)
    total = args.rounds * args.subscribers
    print(f"{args.subscribers} subscribers x {args.rounds} rounds: {received}/{total} deliveries (target: all)")
    print(
        ratio_line(
            "delivery latency p50", percentile(many, 0.5) * 1000, percentile(single, 0.5) * 1000, "ms", "reported"
        )
    )
    print(
        ratio_line(
            "delivery latency p99", percentile(many, 0.99) * 1000, percentile(single, 0.99) * 1000, "ms", "reported"
        )
    )
    print("(baseline: one subscriber, same server, same run; the feed polls the timeline every 0.25 s)")
    verdict = "PASS" if received == total else "MISS"
    print(f"{verdict}: events {received}/{total} deliveries (target: all; latency ratios are reported only)")


if __name__ == "__main__":
    main()
