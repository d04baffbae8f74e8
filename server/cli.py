"""The `healer` command line: parses arguments and dispatches to one command module each."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from server import __version__

#: subcommand -> module under server.commands with add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "serve": "Run the REST API (and MCP over HTTP at /mcp).",
    "mcp": "Run the MCP server on stdio, for a coding agent.",
    "db": "Database schema: upgrade or show the revision.",
    "pr": "Review the local forge's pull requests: list, show, review, comment, merge, close.",
    "reviews": "The review loop: apply recorded GitHub deliveries and check merged fixes, once.",
    "postmortem": "Print an incident's postmortem (Markdown), once it is verified or escalated.",
    "similar": "Earlier incidents that look like one, with their fixes and how they turned out.",
    "demo": "Run the whole loop on this machine: incidents, a scripted agent, verified PRs.",
    "approve": "Approve what waits for you: a routed incident, or a held fix (which then runs).",
    "deny": "Deny what waits for you; the incident goes to humans.",
    "dlq": "The dead-letter queue: list, show, retry.",
    "incidents": "Incidents: triage again, after healer.toml maps a service it did not.",
    "rules": "Triage rules: test a report against them, or check the configuration.",
    "doctor": "Check the set-up: configuration, repositories, test commands, GitHub token, sandbox, database.",
    "notify": "Notifications: make a webhook signing secret.",
    "people": "People who approve: make a person's token or password hash, or sign them out.",
    "agents": "Agent runs: dispatch a configured agent CLI on an incident, list runs, show one, cancel.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healer", description="devops-healer: incidents in, reviewed PRs out.")
    parser.add_argument("--version", action="version", version=f"devops-healer {__version__}")
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default: HEALER_LOG_LEVEL or INFO)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"server.commands.{name}")
        command = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (args.log_level or os.environ.get("HEALER_LOG_LEVEL") or "INFO").upper()
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns what matters
    if level != "DEBUG":  # each migration step and plugin set-up is a line; what matters would scroll away
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        code: int = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`healer pr show 1 | head`): nothing is wrong, so no traceback. What is
        # still buffered goes nowhere, and so does the interpreter's last flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE
    return code


if __name__ == "__main__":
    raise SystemExit(main())
