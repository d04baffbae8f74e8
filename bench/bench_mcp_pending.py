"""get_pending_incidents round-trip over stdio with 100,000 incidents stored, beside a trivial tool.

Both tools live in the same server process (healer's MCP server plus a `ping` tool), driven by
the same bare JSON-RPC client, calls interleaved. Target: at most 1.2x the trivial tool.
Run: .venv/bin/python bench/bench_mcp_pending.py [--incidents 100000] [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import StdioPeer, median, percentile, ratio_line

ROOT = Path(__file__).resolve().parents[1]


def seed(url: str, count: int) -> None:
    from server.config import HealerConfig
    from server.intake.reports import normalize
    from server.models import IncidentIn, Status
    from server.store import Store
    from server.store.ingest import IngestRequest, ingest_batch

    store = Store.open(url, synchronous="NORMAL")
    severities = ["critical", "high", "medium", "high"]
    config = HealerConfig()
    now = store.clock.now()
    chunk = 2000
    for start in range(0, count, chunk):
        requests = [
            IngestRequest(
                normalize(
                    IncidentIn(
                        service=f"svc-{n % 50}",
                        error=f"fault {n}",
                        fingerprint=str(n),
                        severity=severities[n % 4],
                    ),
                    config,
                ),
                now,
                # Stored as triage leaves them: status pending with a queue position (queue_rank),
                # so get_pending_incidents really has 100,000 claimable incidents to page through.
                initial=Status.pending,
            )
            for n in range(start, min(count, start + chunk))
        ]
        with store.write() as connection:
            ingest_batch(connection, requests)
    store.close()


def timed_call(peer: StdioPeer, name: str, arguments: dict[str, object]) -> float:
    started = time.perf_counter()
    answer = peer.request("tools/call", {"name": name, "arguments": arguments})
    elapsed = time.perf_counter() - started
    assert not answer["result"].get("isError"), answer
    if name == "get_pending_incidents":
        page = answer["result"]["structuredContent"]["incidents"]
        assert len(page) == arguments["limit"], f"expected a full page, got {len(page)} incidents"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    url = f"sqlite:///{home / 'healer.db'}"
    started = time.perf_counter()
    seed(url, args.incidents)
    print(f"seeded {args.incidents} incidents in {time.perf_counter() - started:.1f}s")
    env = {**os.environ, "HEALER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    peer = StdioPeer([sys.executable, str(ROOT / "bench" / "bench_mcp_server.py")], env)
    peer.initialize()
    pending_args = {"limit": 10}
    for _ in range(20):  # warm-up: opens the store, fills caches
        timed_call(peer, "ping", {})
        timed_call(peer, "get_pending_incidents", pending_args)
    ping: list[float] = []
    pending: list[float] = []
    for _ in range(args.calls):
        ping.append(timed_call(peer, "ping", {}))
        pending.append(timed_call(peer, "get_pending_incidents", pending_args))
    peer.close()
    print(f"{args.calls} calls each, interleaved, limit=10")
    print(f"ping: p50 {median(ping) * 1000:.2f} ms  p99 {percentile(ping, 0.99) * 1000:.2f} ms")
    print(f"get_pending_incidents: p50 {median(pending) * 1000:.2f} ms  p99 {percentile(pending, 0.99) * 1000:.2f} ms")
    print(ratio_line("get_pending_incidents p50", median(pending) * 1000, median(ping) * 1000, "ms", "<= 1.2x"))
    ratio = median(pending) / median(ping)
    print(f"{'PASS' if ratio <= 1.2 else 'MISS'}: get_pending_incidents {ratio:.2f}x of ping (target <= 1.2x)")


if __name__ == "__main__":
    main()
