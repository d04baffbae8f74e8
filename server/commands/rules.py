"""`healer rules test FILE.json | check`: dry-run the triage rules, or validate their configuration."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = sub.add_parser("test", help="Which rule would decide for this report (POST /incidents shape), and why.")
    test.add_argument("file", type=Path, help="A JSON incident report, as POST /incidents takes it.")
    sub.add_parser("check", help="Validate [triage], [routing] and [notify] in healer.toml, naming key and line.")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from server.errors import HealerError

    settings, config = load()
    out = sys.stdout
    if args.action == "check":
        from server.triage.checks import check_config

        problems = check_config(settings.config_path)
        for problem in problems:
            out.write(f"{problem}\n")
        if problems:
            return 1
        out.write(
            f"{settings.config_path}: the rules are valid ([triage], [routing], [notify]); repositories, tokens and "
            "the database are not checked here: run `healer doctor`\n"
        )
        return 0
    from server.api.rules import dry_run
    from server.models import IncidentIn
    from server.triage.decide import Triage

    try:
        report = IncidentIn.model_validate(json.loads(args.file.read_text()))
        result = dry_run(report, Triage(config), config)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        fail(f"{args.file}: {exc}")
    except HealerError as exc:
        fail(exc.message)
    routing = result.routing
    out.write(f"category: {result.verdict.category.value} ({result.verdict.explanation})\n")
    out.write(f"route: {routing.route.value}, automation: {routing.automation.value}\n")
    out.write(f"why: {routing.reason}\n")
    for trace in routing.evaluated:
        mark = "MATCH" if trace.matched else "no"
        out.write(f"  [{mark:>5}] {trace.rule.scope}[{trace.rule.index}] {trace.rule.name}\n")
        for matcher in trace.matchers:
            out.write(f"           {matcher.matcher}: {'yes' if matcher.matched else 'no'} (value {matcher.value!r})\n")
        if trace.expression is not None:
            out.write(f"           cel {trace.expression.expression}: {trace.expression.matched}\n")
    for flag in routing.flags:
        out.write(f"  flagged: {flag.rule.name}: {flag.problem}\n")
    return 0
