"""Sustained POST /incidents throughput and p99 beside a no-op endpoint of the same app, same run.

Load comes from wrk (a separate process) over loopback. Every POST carries a new fingerprint,
so each 202 is a new incident committed with fsync (SQLite WAL, synchronous=FULL). After the
run the stored incidents are counted: 0 lost. Target: rate >= 0.7x the no-op rate (aim 0.8x).
Run: .venv/bin/python bench/bench_ingest.py [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
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


def drain(db: Path, timeout: float = 300) -> tuple[int, float]:
    """Wait until triage has routed every received incident: (how many it had left, seconds it took)."""
    if os.environ.get("HEALER_BENCH_TRIAGE", "1") == "0":
        return 0, 0.0  # no triage worker: nothing will route them
    started = time.monotonic()
    first = None
    while time.monotonic() - started < timeout:
        with sqlite3.connect(db) as connection:
            left = connection.execute("SELECT count(*) FROM incidents WHERE status = 'received'").fetchone()[0]
        first = left if first is None else first
        if left == 0:
            break
        time.sleep(0.2)
    return first or 0, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk (Debian: apt-get install wrk)")
    home = Path(tempfile.mkdtemp())
    script = home / "post.lua"
    script.write_text(LUA)
    noop_script = home / "noop.lua"
    noop_script.write_text(
        LUA.replace("return wrk.format(nil, nil, nil, body)", 'return wrk.format(nil, "/_bench/noop", nil, body)')
    )
    port = free_port()
    env = {**os.environ, "HEALER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bench_app:create",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        noop_rates, post_rates, noop_p99, post_p99 = [], [], [], []
        posted = wrk(base + "/incidents", 2, args.connections, script)[2]  # warm-up, counted for the loss check
        backlog: list[tuple[int, float]] = []
        for _ in range(args.rounds):
            # Triage runs off the intake path and yields while intake is busy; let it catch up first,
            # so the no-op round is not measured against a triage backlog.
            backlog.append(drain(home / "healer.db"))
            rate, p99, _total, failed = wrk(base + "/_bench/noop", args.seconds, args.connections, noop_script)
            assert failed == 0
            noop_rates.append(rate)
            noop_p99.append(p99)
            rate, p99, total, failed = wrk(base + "/incidents", args.seconds, args.connections, script)
            assert failed == 0, f"{failed} POSTs failed"
            post_rates.append(rate)
            post_p99.append(p99)
            posted += total
        backlog.append(drain(home / "healer.db"))
    finally:
        server.terminate()
        server.wait(30)
    with sqlite3.connect(home / "healer.db") as db:
        stored = db.execute("SELECT coalesce(sum(occurrences), 0) FROM incidents").fetchone()[0]
        sync = db.execute("PRAGMA journal_mode").fetchone()[0]
    noop, post = sum(noop_rates) / len(noop_rates), sum(post_rates) / len(post_rates)
    print(
        f"wrk -t2 -c{args.connections}, {args.rounds} rounds of {args.seconds}s each, alternating; journal_mode={sync}"
    )
    print(f"no-op endpoint : {noop:8.0f} req/s  p99 {max(noop_p99):6.1f} ms")
    print(f"POST /incidents: {post:8.0f} req/s  p99 {max(post_p99):6.1f} ms")
    ratio = post / noop
    print(f"ratio POST/no-op: {ratio:.2f}x (target >= 0.7x, aim 0.8x)")
    print(f"p99 ratio POST/no-op: {max(post_p99) / max(noop_p99):.2f}x (reported, no target)")
    left, seconds = backlog[-1]
    print(f"triage after the last round: {left} incidents still received, all routed {seconds:.1f} s later")
    # wrk does not count requests still in flight when it stops, so the store may hold a few more than that.
    lost = max(0, posted - stored)
    print(f"acknowledged POSTs (warm-up included): {posted}; occurrences stored: {stored}; lost: {lost}")
    verdict = "PASS" if ratio >= 0.7 and lost == 0 else "MISS"
    print(f"{verdict}: ingest {ratio:.2f}x of no-op (target >= 0.7x), lost {lost} (target 0)")


if __name__ == "__main__":
    main()
