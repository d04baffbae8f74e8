"""`healer similar INC-...`: print the earlier incidents that look like one, with their fixes."""

from __future__ import annotations

import argparse
import json
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("incident_id", help="e.g. INC-20261122-0042")
    parser.add_argument(
        "--limit", type=int, default=3, choices=range(1, 11), metavar="N", help="How many (1-10, default 3)."
    )
    parser.add_argument("--json", action="store_true", help="Print them as JSON, as GET /incidents/{id}/similar does.")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.similar.matches import for_incident
    from server.store import Store

    settings, _config = load()
    store = Store.from_settings(settings)
    try:
        with store.read() as connection:
            found = for_incident(connection, args.incident_id, limit=args.limit)
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(json.dumps([item.model_dump(mode="json") for item in found], indent=2) + "\n")
        return 0
    if not found:
        sys.stdout.write(f"No earlier incident looks like {args.incident_id}.\n")
        return 0
    for item in found:
        pr = f"PR #{item.pr_number}" if item.pr_number is not None else (item.pr_url or "no pull request")
        sys.stdout.write(f"{item.id}  {item.score:.2f}  {item.outcome}  {pr}  [{item.service}] {item.title}\n")
        if item.pr_url:
            sys.stdout.write(f"    {item.pr_url}\n")
        if item.root_cause:
            sys.stdout.write(f"    root cause: {item.root_cause}\n")
        if item.changed_files:
            sys.stdout.write(f"    changed: {', '.join(item.changed_files)}\n")
    return 0
