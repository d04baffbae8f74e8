"""Helpers the benchmark scripts share: percentiles, a JSON-RPC stdio driver, and printing figures."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from typing import Any

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


class StdioPeer:
    """A bare JSON-RPC driver for an MCP server process (no SDK client overhead on our side)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        self.next_id = 10

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        ident = self.next_id
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}})
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("server exited")
            answer = json.loads(line)
            if answer.get("id") == ident:
                return answer  # type: ignore[no-any-return]

    def initialize(self) -> None:
        self.send(INIT)
        assert self.process.stdout is not None
        json.loads(self.process.stdout.readline())
        self.send(INITIALIZED)

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def ratio_line(name: str, value: float, baseline: float, unit: str, target: str) -> str:
    figures = f"{value:.2f} {unit} vs baseline {baseline:.2f} {unit}"
    return f"{name}: {figures} -> ratio {value / baseline:.2f}x (target {target})"
