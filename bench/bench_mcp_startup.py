"""`healer mcp` start-up (spawn -> initialized -> tools listed) beside a bare SDK server with one tool.

Target: at most 1.1x. Agents spawn this process for every session, so it must start fast.
Run: .venv/bin/python bench/bench_mcp_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import StdioPeer, median, ratio_line

HEALER = str(Path(sys.executable).with_name("healer"))
BARE = str(Path(__file__).resolve().parent / "bare_mcp_server.py")


def startup(argv: list[str], env: dict[str, str]) -> float:
    peer = StdioPeer(argv, env)
    peer.initialize()
    tools = peer.request("tools/list")
    elapsed = time.perf_counter() - peer.started
    assert tools["result"]["tools"], tools
    peer.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    env = {**os.environ, "HEALER_HOME": home}
    for argv in ([sys.executable, BARE], [HEALER, "mcp"]):  # warm the bytecode caches
        startup(argv, env)
    bare: list[float] = []
    healer: list[float] = []
    for _ in range(args.runs):  # interleaved, so load on the machine hits both alike
        bare.append(startup([sys.executable, BARE], env))
        healer.append(startup([HEALER, "mcp"], env))
    print(f"runs: {args.runs} each, interleaved; median of each")
    print(ratio_line("healer mcp start-up", median(healer) * 1000, median(bare) * 1000, "ms", "<= 1.1x"))
    ratio = median(healer) / median(bare)
    verdict = "PASS" if ratio <= 1.1 else "MISS"
    print(f"{verdict}: healer mcp start-up {ratio:.2f}x of the bare SDK server (target <= 1.1x)")


if __name__ == "__main__":
    main()
