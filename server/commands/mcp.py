"""`healer mcp`: the MCP server on stdio. Only protocol messages go to stdout; logs go to stderr."""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import sys

from server.commands.common import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-only", action="store_true", help="Offer only the tools that read.")
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="Relay stdio to a server's /mcp over HTTP instead of serving here; the bearer token comes from "
        "HEALER_RUN_TOKEN (an agent run's) or HEALER_API_TOKEN.",
    )


def run(args: argparse.Namespace) -> int:
    if args.connect:
        from server.agents.relay import run as relay

        relay(args.connect, os.environ.get("HEALER_RUN_TOKEN") or os.environ.get("HEALER_API_TOKEN"))
        return 0
    # Agents spawn this process for every session, so start-up counts (bench/bench_mcp_startup.py).
    # Importing the SDK and building the tools' schemas creates many objects and no garbage worth
    # collecting: the collector stays off until the server is built, then what start-up made is
    # frozen (kept out of later collections, which also keeps them short while tools are called).
    gc.disable()
    try:
        from tools.runtime import Runtime
        from tools.server import build_server

        settings, config = load(hold=False)
        runtime = Runtime(settings, config=config, environ=os.environ)
        server = build_server(runtime, read_only=args.read_only)
    finally:
        gc.freeze()
        gc.enable()
    if sys.stdin.isatty():  # a person, not an agent: say what this is instead of waiting in silence

        def leave(_signum: int, _frame: object) -> None:
            # The SDK's stdin reader sits in a thread blocked on a read that only Enter would end, and
            # KeyboardInterrupt would surface as a long traceback: close the store and leave at once.
            runtime.close()
            os._exit(130)

        signal.signal(signal.SIGINT, leave)
        sys.stderr.write(terminal_hint(sys.argv[0]) + "\n")
        sys.stderr.flush()
    try:
        server.run("stdio")
    finally:
        runtime.close()
    return 0


def terminal_hint(program: str) -> str:
    """One line for a person who started `healer mcp` by hand: what it is, how to use and inspect it."""
    command = shutil.which(program) or program
    snippet = json.dumps({"command": command, "args": ["mcp"]})
    return (
        "healer mcp: devops-healer's MCP server on stdio, for a coding agent to start, not for typing into. "
        f"Configure your client with {snippet} (plus HEALER_HOME in its env); inspect it with "
        f"`npx -y @modelcontextprotocol/inspector@0.18.0 --cli {command} mcp --method tools/list` (Node 22+). "
        "Ctrl-C quits."
    )
