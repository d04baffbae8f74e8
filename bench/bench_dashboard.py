"""The dashboard's incident list over 100,000 incidents beside the same page over 100, same run.

A large SQLite store is filled with bulk inserts (incidents spread over 30 days, 50 services,
every state, one timeline row each). For each view (first page, next page, filters, sorts) a small
store of 100 incidents that all match the view is the baseline, so both pages show the same number
of rows and the ratio is what the 99,900 other incidents cost. Pages are fetched through the app
in-process (TestClient: routing, queries and template rendering, no network), small and large
alternately, and the medians compared. Target: <= 1.5x for every view: pagination and indexes,
not scans. (Free-text search is a filter on a scan that stops when a page is full; it is reported,
not held to the target.)
Run: .venv/bin/python bench/bench_dashboard.py [--large 100000] [--rounds 30]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import ratio_line  # noqa: E402
from server.commands.serve import build_app  # noqa: E402
from server.common.settings import Settings  # noqa: E402
from server.config import HealerConfig  # noqa: E402
from server.models import Severity, Status  # noqa: E402
from server.store import Store  # noqa: E402
from server.store.schema import incidents, timeline  # noqa: E402

STUCK = [Status.escalated, Status.dead_letter, Status.awaiting_approval, Status.fix_rejected]
#: view -> (URL, what every incident of its small store is like). A URL of None: the first page's next page.
VIEWS: dict[str, tuple[str | None, dict[str, list[Any]]]] = {
    "first page": ("/", {}),
    "next page": (None, {}),
    "stage=stuck": ("/?stage=stuck", {"status": STUCK}),
    "status=pending&severity=critical": (
        "/?status=pending&severity=critical",
        {"status": [Status.pending], "severity": [Severity.critical]},
    ),
    "service=svc-7": ("/?service=svc-7", {"service": ["svc-7"]}),
    "sort=severity": ("/?sort=severity", {}),
    "sort=last_seen": ("/?sort=last_seen", {}),
    "sort=oldest&limit=100": ("/?sort=oldest&limit=100", {}),
    "search (q=timeout)": ("/?q=timeout", {"error": ["connection timeout"]}),
}


def fill(url: str, count: int, like: dict[str, list[Any]] | None = None, seed: int = 7) -> None:
    store = Store.open(url, synchronous="NORMAL")
    rng = random.Random(seed)
    like = like or {}
    statuses = like.get("status", list(Status))
    severities = like.get("severity", list(Severity))
    services = like.get("service", [f"svc-{n}" for n in range(50)])
    errors = like.get("error", ["connection timeout", "KeyError", "OOM"])
    start = datetime(2026, 10, 20, tzinfo=UTC)
    batch = 5000
    with store.write() as connection:
        for offset in range(0, count, batch):
            rows = []
            for n in range(offset, min(count, offset + batch)):
                seen = start + timedelta(seconds=n * (30 * 86400 / count))
                status = rng.choice(statuses)
                rows.append(
                    {
                        "fingerprint": f"fp{n}",
                        "open_fingerprint": None,
                        "source": rng.choice(["api", "sentry", "alertmanager"]),
                        "service": rng.choice(services),
                        "title": f"{rng.choice(['pool exhausted', 'timeout calling', 'null deref in'])} {n}",
                        "error": f"error text {n} " + rng.choice(errors),
                        "log_excerpt": None,
                        "stack_frames": [],
                        "severity": rng.choice(severities).value,
                        "affected_files": [],
                        "labels": {},
                        "status": status.value,
                        "queue_rank": None,
                        "attempts": 0,
                        "occurrences": rng.randrange(1, 20),
                        "first_seen": seen,
                        "last_seen": seen + timedelta(minutes=rng.randrange(0, 600)),
                        "claim_holder": "claude" if status in (Status.claimed, Status.fixing) else None,
                        "pr_url": f"https://git.example/r/pull/{n}" if status == Status.pr_open else None,
                        "pr_number": n if status == Status.pr_open else None,
                        "trace_id": f"{n:032x}",
                        "created_at": seen,
                        "updated_at": seen,
                    }
                )
            connection.execute(insert(incidents), rows)
        pks = connection.execute(select(incidents.c.pk, incidents.c.created_at)).all()
        for offset in range(0, len(pks), batch):
            connection.execute(
                insert(timeline),
                [
                    {"incident_pk": pk, "at": at, "actor": "api", "event": "received", "detail": {}, "trace_id": None}
                    for pk, at in pks[offset : offset + batch]
                ],
            )
    store.close()


def client_for(url: str, home: Path) -> TestClient:
    return TestClient(build_app(Settings(home=home), HealerConfig(), Store.open(url), run_triage=False))


def view_url(client: TestClient, url: str | None) -> str:
    if url is not None:
        return url
    found = re.search(r'<a href="([^"]+)" rel="next">', client.get("/").text)
    assert found, "the first page has no next page"
    return found.group(1).replace("&amp;", "&")


def rows(html: str) -> int:
    return html.count('<tr id="row-')


def compare(small: TestClient, large: TestClient, url: str | None, rounds: int) -> tuple[float, float, int, int]:
    """Median ms of the view on each store, fetched alternately; and the rows each page shows."""
    small_url, large_url = view_url(small, url), view_url(large, url)
    for _ in range(3):  # warm-up: compiled statements, template cache
        small.get(small_url)
        large.get(large_url)
    times: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(rounds):
        for name, client, target in (("small", small, small_url), ("large", large, large_url)):
            began = time.perf_counter()
            answer = client.get(target)
            times[name].append(time.perf_counter() - began)
            assert answer.status_code == 200
    return (
        statistics.median(times["small"]) * 1000,
        statistics.median(times["large"]) * 1000,
        rows(small.get(small_url).text),
        rows(large.get(large_url).text),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp())
    large_url = f"sqlite:///{home / 'large.db'}"
    began = time.perf_counter()
    fill(large_url, args.large)
    print(f"filled {args.large} incidents in {time.perf_counter() - began:.1f}s")
    worst = 0.0
    with client_for(large_url, home) as large:
        for index, (name, (url, like)) in enumerate(VIEWS.items()):
            small_url = f"sqlite:///{home / f'small{index}.db'}"
            fill(small_url, args.small, like)
            with client_for(small_url, home) as small:
                baseline, figure, small_rows, large_rows = compare(small, large, url, args.rounds)
            line = ratio_line(f"{name:<34}", figure, baseline, "ms", "<= 1.5x")
            line += f" [{large_rows} rows vs {small_rows}]"
            if name.startswith("search"):
                line += " (reported only)"
            else:
                worst = max(worst, figure / baseline)
            print(line)
    print(f"worst ratio over the list views: {worst:.2f}x (target <= 1.5x)")
    print(f"{'PASS' if worst <= 1.5 else 'MISS'}: dashboard list views, worst {worst:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
