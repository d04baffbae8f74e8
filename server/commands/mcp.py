"""`healer mcp`: the MCP server on stdio. Only protocol messages go to stdout; logs go to stderr."""

from __future__ import annotations

import argparse

from server.commands.common import load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--read-only", action="store_true", help="Offer only the tools that read.")


def run(args: argparse.Namespace) -> int:
    from tools.runtime import Runtime
    from tools.server import build_server

    settings, config = load()
    runtime = Runtime(settings, config=config)
    try:
        build_server(runtime, read_only=args.read_only).run("stdio")
    finally:
        runtime.close()
    return 0
