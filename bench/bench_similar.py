"""get_incident_details with `similar` over 100,000 stored incidents, beside the same call without it.

One stdio MCP server (healer's), the same bare JSON-RPC client, calls interleaved: the tool with
similar incidents (the default) and with `similar=false`, which skips only reading them. The
stored incidents are the labelled test faults (tests/data/similar_incidents.toml) repeated with
other numbers, services and ids, so every search matches thousands of rows: the index's worst case,
not its best. Each is indexed as triage indexes it, its candidates found then and kept (so seeding
pays the searches); a call reads the kept candidates' current rows. Target: at most 1.2x the call
without similar.
Run: .venv/bin/python bench/bench_similar.py [--incidents 100000] [--calls 300] [--database FILE]
(--database keeps the seeded SQLite file, or reuses it when it exists: seeding 100,000 takes minutes.)
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import StdioPeer, median, percentile, ratio_line

ROOT = Path(__file__).resolve().parents[1]
FAULTS = tomllib.loads((ROOT / "tests" / "data" / "similar_incidents.toml").read_text(encoding="utf-8"))


def seed(url: str, count: int) -> list[str]:
    from server.config import HealerConfig
    from server.intake.reports import normalize
    from server.models import IncidentIn, Status
    from server.similar import matches as similar
    from server.store import Store, queries
    from server.store.ingest import IngestRequest, ingest_batch

    rng = random.Random(1)
    faults = [pair["past"] for pair in FAULTS["pair"]] + list(FAULTS["distractor"])
    store = Store.open(url, synchronous="NORMAL")
    config = HealerConfig()
    now = store.clock.now()
    ids: list[str] = []
    chunk = 2000
    for start in range(0, count, chunk):
        requests = []
        for n in range(start, min(count, start + chunk)):
            fault = rng.choice(faults)
            report = IncidentIn(
                service=f"{fault['service']}-{n % 40}",
                title=f"{fault['title']} #{n}",
                error=f"{fault['error']} (request {rng.getrandbits(64):x}, after {rng.randint(1, 90)}s)",
                fingerprint=str(n),
                severity="high",
            )
            requests.append(IngestRequest(normalize(report, config), now, initial=Status.resolved))
        with store.write() as connection:
            results = ingest_batch(connection, requests)
            for result in results:
                # As triage does: index it and remember its candidates among the earlier ones.
                similar.index(connection, queries.incident_row(connection, result.id))
            ids += [result.id for result in results]
    store.close()
    return ids


def stored_ids(url: str) -> list[str]:
    from sqlalchemy import select

    from server.store import Store
    from server.store.rows import public_id
    from server.store.schema import incidents

    store = Store.open(url)
    with store.read() as connection:
        ids = [public_id(row) for row in connection.execute(select(incidents.c.pk, incidents.c.created_at))]
    store.close()
    return ids


def timed_call(peer: StdioPeer, arguments: dict[str, object]) -> float:
    started = time.perf_counter()
    reply = peer.request("tools/call", {"name": "get_incident_details", "arguments": arguments})
    elapsed = time.perf_counter() - started
    if reply.get("result", {}).get("isError") or "error" in reply:
        raise SystemExit(f"get_incident_details failed: {reply}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000, help="How many incidents to store.")
    parser.add_argument("--calls", type=int, default=300, help="Timed calls of each kind.")
    parser.add_argument("--database", type=Path, default=None, help="Keep the SQLite file here (reused if it exists).")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        path = options.database or Path(home) / "healer.db"
        url = f"sqlite:///{path.resolve()}"
        started = time.perf_counter()
        ids = stored_ids(url) if path.exists() else seed(url, options.incidents)
        print(f"{len(ids)} incidents and their index ready in {time.perf_counter() - started:.1f}s")
        env = {**os.environ, "HEALER_HOME": home, "HEALER_DATABASE_URL": url}
        peer = StdioPeer([sys.executable, "-m", "server.cli", "mcp"], env=env)
        try:
            peer.initialize()
            rng = random.Random(2)
            picks = [rng.choice(ids) for _ in range(options.calls + 20)]
            for incident_id in picks[:20]:  # warm both paths
                timed_call(peer, {"incident_id": incident_id})
                timed_call(peer, {"incident_id": incident_id, "similar": False})
            with_similar, without = [], []
            for incident_id in picks[20:]:
                with_similar.append(timed_call(peer, {"incident_id": incident_id}))
                without.append(timed_call(peer, {"incident_id": incident_id, "similar": False}))
        finally:
            peer.close()
    base, ours = median(without), median(with_similar)
    print(f"without similar: median {base * 1000:.2f} ms, p99 {percentile(without, 0.99) * 1000:.2f} ms")
    print(f"with similar:    median {ours * 1000:.2f} ms, p99 {percentile(with_similar, 0.99) * 1000:.2f} ms")
    print(ratio_line("get_incident_details with similar", ours * 1000, base * 1000, "ms", "<= 1.2x"))


if __name__ == "__main__":
    main()
