"""`healer mcp`'s own server plus one trivial tool: the baseline for per-call latency."""

from __future__ import annotations

from server.commands.common import load
from tools.runtime import Runtime
from tools.server import build_server


def main() -> None:
    settings, config = load()
    runtime = Runtime(settings, config=config)
    mcp = build_server(runtime)

    @mcp.tool()
    def ping() -> str:
        """Answer pong (the benchmark's baseline)."""
        return "pong"

    mcp.run("stdio")


if __name__ == "__main__":
    main()
