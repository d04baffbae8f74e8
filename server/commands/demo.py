"""`healer demo`: the whole loop, incident to pull request, on this machine."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", action="store_true", help="Keep the workspace (repositories, database, logs).")


def run(args: argparse.Namespace) -> int:
    from server.demo.runner import run as run_demo

    return run_demo(keep=args.keep)
