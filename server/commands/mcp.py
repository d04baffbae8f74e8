"""`healer mcp`: the MCP server on stdio. Only protocol messages go to stdout; logs go to stderr."""

from __future__ import annotations

import argparse
import gc
import os

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
    try:
        server.run("stdio")
    finally:
        runtime.close()
    return 0
