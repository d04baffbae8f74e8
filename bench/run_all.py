"""Every benchmark, one after another: `make bench`. Each prints its figures as ratios to a baseline
measured in the same run, so the figures compare across machines; absolute numbers are context.

Run: .venv/bin/python bench/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments for a full run, arguments for --quick)
BENCHES: dict[str, tuple[str, list[str], list[str]]] = {
    "classifier": ("bench_classifier.py", [], []),
    "mcp-startup": ("bench_mcp_startup.py", [], ["--runs", "5"]),
    "mcp-pending": ("bench_mcp_pending.py", [], ["--incidents", "20000", "--calls", "100"]),
    "ingest": ("bench_ingest.py", [], ["--seconds", "4", "--rounds", "1", "--burst", "6"]),
    "alerts": ("bench_alerts.py", [], ["--requests", "500"]),
    "fixer": ("bench_fixer.py", [], ["--runs", "5"]),
    "similar": ("bench_similar.py", [], ["--incidents", "20000", "--calls", "100"]),
}
OPTIONAL = {"dashboard": ("bench_dashboard.py", [], []), "events": ("bench_events.py", [], [])}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="Fewer runs: a smoke test of the benchmarks.")
    parser.add_argument("--only", nargs="*", default=None, help="Run only these (names as listed).")
    args = parser.parse_args()
    benches = dict(BENCHES)
    benches.update({name: item for name, item in OPTIONAL.items() if (HERE / item[0]).exists()})
    failed = []
    for name, (script, full, quick) in benches.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name} ({script})", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / script), *(quick if args.quick else full)], check=False)
        print(f"   [{time.monotonic() - started:.0f} s]\n", flush=True)
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
