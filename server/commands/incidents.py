"""`healer incidents retriage [ID...|--status escalated]`: route incidents again after healer.toml changed."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    again = sub.add_parser(
        "retriage",
        help="Run triage again, with healer.toml as it is now, for incidents escalated because no repository "
        "was mapped to their service.",
    )
    again.add_argument("incident_ids", nargs="*", metavar="ID", help="Incidents to triage again (INC-...).")
    again.add_argument(
        "--status",
        choices=["escalated"],
        default=None,
        help="Every incident escalated for want of a repository, instead of naming them.",
    )
    again.add_argument("--as", dest="by", default=None, help="Your name for the timeline (default: login name).")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.store import Store
    from server.triage import retriage

    if bool(args.incident_ids) == bool(args.status):
        fail("name the incidents to triage again (INC-...), or pass --status escalated for all of them, not both")
    settings, config = load()
    store = Store.from_settings(settings)
    out = sys.stdout
    try:
        done = retriage.retriage(store, config, args.incident_ids or None, by=args.by or getpass.getuser())
        if not done:
            out.write("no incident is escalated for want of a repository\n")
            return 0
        for item in done:
            if item.moved:
                out.write(f"{item.incident_id} -> {item.status.value} (repository {item.repo}): {item.reason}\n")
            else:
                out.write(f"{item.incident_id} still escalated: {item.reason}\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
