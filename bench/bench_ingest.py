"""Durable POST /incidents on `healer serve` against a plain FastAPI app, alternating rounds in one run.

The baseline is what a user would write instead (bench/plain_fastapi.py: one route, a five-field
pydantic body, 202, uvicorn's default settings), started as its own process. `healer serve` runs
as it ships: every POST carries a new fingerprint, so each 202 is a new incident committed with
fsync (SQLite WAL, synchronous=FULL), and the triage worker runs. Load comes from wrk (a separate
process) over loopback, the same script shape for both. Rounds alternate (plain, healer, plain,
...); every round is listed with its ratio, then the median ratio of rates and of p99s. Before each
plain round triage is let catch up, so the baseline never shares the cores with a backlog.

Then a burst: wrk at full rate for --burst seconds; halfway through, one critical incident is
posted, and the time until it is routed with its notification queued is measured (target 2 s).
10 s after the burst ends, no incident may still be received.

Secondary: a no-op route inside our own app (bench/bench_app.py: our middleware, start-up
tuning), one pair of rounds, reported for context only. After the run the stored incidents are
counted: 0 lost.
Run: .venv/bin/python bench/bench_ingest.py [--seconds 8] [--rounds 4] [--burst 30] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]

LUA = r"""
local counter = 0
local thread_id = 0
local run_id = "0"
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  thread_id = tid
  run_id = args[1] or "0"
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local body = string.format(
    '{"service":"payments","severity":"high","error":"pool exhausted on db-%d","fingerprint":"r%s-t%d-%d",' ..
    '"log":"2026-11-22T09:00:00Z ERROR pool exhausted after 30s waiting for a connection (size=5)"}',
    counter % 7, run_id, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_wrk(output: str) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, requests, non-2xx) from wrk --latency output."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99_value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    p99 = float(p99_value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_unit]
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(n) for n in errors.groups())
    return rate, p99, total, failed


_RUNS = iter(range(1, 1_000_000))


def wrk(url: str, seconds: int, connections: int, script: Path | None) -> tuple[float, float, int, int]:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        argv += ["-s", str(script)]
    # Each run gets its own fingerprints (passed to the script's init), so every POST of every
    # round opens a new incident rather than adding an occurrence to one from an earlier round.
    done = subprocess.run([*argv, url, "--", str(next(_RUNS))], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def received(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM incidents WHERE status = 'received'").fetchone()[0])


def drain(db: Path, timeout: float = 300) -> tuple[int, float]:
    """Wait until triage has routed every received incident: (how many it had left, seconds it took)."""
    started = time.monotonic()
    first = None
    while time.monotonic() - started < timeout:
        left = received(db)
        first = left if first is None else first
        if left == 0:
            break
        time.sleep(0.2)
    return first or 0, time.monotonic() - started


@contextmanager
def serving(argv: list[str], port: int, env: dict[str, str], ready: str) -> Iterator[str]:
    """A server process on ``port``, until the block ends."""
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + ready)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def routed_after(db: Path, service: str, posted: float, timeout: float = 60) -> float:
    """Seconds from ``posted`` until the incident is routed and a notification for it is queued."""
    while time.monotonic() - posted < timeout:
        with sqlite3.connect(db) as connection:
            found = connection.execute(
                "SELECT i.status, (SELECT count(*) FROM outbox o WHERE o.incident_pk = i.pk) "
                "FROM incidents i WHERE i.service = ?",
                (service,),
            ).fetchone()
        if found and found[0] not in ("received", "triaged") and found[1]:
            return time.monotonic() - posted
        time.sleep(0.02)
    return float("inf")


def burst(base: str, db: Path, seconds: int, connections: int, script: Path) -> tuple[int, float, int]:
    """(requests acknowledged, seconds until the mid-burst critical was routed, still received 10 s after)."""
    routed: list[float] = []

    def critical() -> None:
        time.sleep(seconds / 2)
        body = {
            "service": "checkout",
            "severity": "critical",
            "error": "card authorisation failing for every request",
            "fingerprint": "burst-critical",
        }
        posted = time.monotonic()
        answer = httpx.post(base + "/incidents", content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        routed.append(routed_after(db, "checkout", posted))

    helper = threading.Thread(target=critical)
    helper.start()
    total = wrk(base + "/incidents", seconds, connections, script)[2]
    ended = time.monotonic()
    helper.join()
    time.sleep(max(0.0, 10 - (time.monotonic() - ended)))
    return total + 1, routed[0], received(db)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--burst", type=int, default=30, help="Seconds of the burst (0: no burst).")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk (Debian: apt-get install wrk)")
    home = Path(tempfile.mkdtemp())
    db = home / "healer.db"
    script = home / "post.lua"
    script.write_text(LUA)
    noop_script = home / "noop.lua"
    noop_script.write_text(
        LUA.replace("return wrk.format(nil, nil, nil, body)", 'return wrk.format(nil, "/_bench/noop", nil, body)')
    )
    env = {**os.environ, "HEALER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    plain_port, healer_port = free_port(), free_port()
    plain_argv = [sys.executable, "-m", "uvicorn", "bench.plain_fastapi:app", "--port", str(plain_port)]
    healer_argv = [str(Path(sys.executable).with_name("healer")), "serve", "--port", str(healer_port)]
    rounds: list[tuple[float, float, float, float]] = []
    posted = 0
    with (
        serving(plain_argv, plain_port, env, "/docs") as plain,
        serving(healer_argv, healer_port, env, "/health") as healer,
    ):
        wrk(plain + "/incidents", 2, args.connections, script)  # warm-up
        posted += wrk(healer + "/incidents", 2, args.connections, script)[2]
        for _ in range(args.rounds):
            drain(db)  # the baseline does not share the cores with a triage backlog
            plain_rate, plain_p99, _total, failed = wrk(plain + "/incidents", args.seconds, args.connections, script)
            assert failed == 0, f"{failed} plain POSTs failed"
            rate, p99, total, failed = wrk(healer + "/incidents", args.seconds, args.connections, script)
            assert failed == 0, f"{failed} POSTs failed"
            posted += total
            rounds.append((plain_rate, plain_p99, rate, p99))
        left, caught_up = drain(db)
        burst_figures = None
        if args.burst:
            burst_figures = burst(healer, db, args.burst, args.connections, script)
            posted += burst_figures[0]
            drain(db)
    noop_port = free_port()
    bench_app = [sys.executable, "-m", "uvicorn", "bench.bench_app:create", "--factory", "--port", str(noop_port)]
    bench_app += ["--log-level", "warning", "--no-access-log"]
    with serving(bench_app, noop_port, env, "/health") as inside:
        noop_rate, noop_p99, _total, failed = wrk(inside + "/_bench/noop", args.seconds, args.connections, noop_script)
        assert failed == 0
        inside_rate, inside_p99, total, failed = wrk(inside + "/incidents", args.seconds, args.connections, script)
        assert failed == 0
        posted += total
        drain(db)
    with sqlite3.connect(db) as connection:
        stored = connection.execute("SELECT coalesce(sum(occurrences), 0) FROM incidents").fetchone()[0]
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    print(f"wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.seconds}s, alternating; journal_mode={journal}")
    print("round   plain req/s  p99 ms   healer req/s  p99 ms   ratio  p99 ratio")
    ratios, p99_ratios = [], []
    for number, (plain_rate, plain_p99, rate, p99) in enumerate(rounds, 1):
        ratios.append(rate / plain_rate)
        p99_ratios.append(p99 / plain_p99)
        print(
            f"{number:5d}   {plain_rate:11.0f}  {plain_p99:6.1f}   {rate:12.0f}  {p99:6.1f}"
            f"   {ratios[-1]:.2f}x  {p99_ratios[-1]:.2f}x"
        )
    ratio, p99_ratio = statistics.median(ratios), statistics.median(p99_ratios)
    print(f"median ratio healer/plain: {ratio:.2f}x (target >= 0.8x)")
    print(f"median p99 ratio healer/plain: {p99_ratio:.2f}x (target <= 2x)")
    print(f"triage after the last round: {left} incidents still received, all routed {caught_up:.1f} s later")
    routed_ok = True
    if burst_figures is not None:
        total, routed, still = burst_figures
        routed_ok = routed <= 2 and still == 0
        print(
            f"burst of {args.burst}s ({total} POSTs): the mid-burst critical routed and notified in {routed:.2f} s"
            f" (target <= 2 s); {still} still received 10 s after the burst (target 0)"
        )
    print(
        f"secondary, inside our own app: POST {inside_rate:.0f} req/s (p99 {inside_p99:.1f} ms) vs no-op"
        f" {noop_rate:.0f} req/s (p99 {noop_p99:.1f} ms): {inside_rate / noop_rate:.2f}x"
    )
    # wrk does not count requests still in flight when it stops, so the store may hold a few more than that.
    lost = max(0, posted - stored)
    print(f"acknowledged POSTs (warm-ups included): {posted}; occurrences stored: {stored}; lost: {lost}")
    verdict = "PASS" if ratio >= 0.8 and p99_ratio <= 2 and lost == 0 and routed_ok else "MISS"
    print(f"{verdict}: ingest {ratio:.2f}x of plain FastAPI (target >= 0.8x), p99 {p99_ratio:.2f}x, lost {lost}")


if __name__ == "__main__":
    main()
