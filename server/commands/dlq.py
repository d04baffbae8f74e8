"""`healer dlq list | show <id> | retry <id>`: the incidents whose fix attempts ran out."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("list", help="Dead-lettered incidents with their last error.")
    for name, text in (("show", "Every attempt and its error."), ("retry", "Back to the agents, fresh budget.")):
        sub.add_parser(name, help=text).add_argument("incident_id", help="The dead-lettered incident (INC-...).")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.fixing import attempts
    from server.store import Store

    settings, _config = load()
    store = Store.from_settings(settings)
    out = sys.stdout
    try:
        if args.action == "list":
            items = attempts.dead_letters(store)
            if not items:
                out.write("the dead-letter queue is empty\n")
            for item in items:
                error = (item.last_error or "").splitlines()[0][:100] if item.last_error else "-"
                out.write(f"{item.incident.id}  {item.incident.service:<16} {len(item.attempts)} attempts  {error}\n")
        elif args.action == "show":
            item = attempts.dead_letter(store, args.incident_id)
            out.write(f"{item.incident.id} [{item.incident.severity.value}] {item.incident.title}\n")
            for attempt in item.attempts:
                kind = "permanent" if attempt.permanent else "transient"
                out.write(
                    f"  attempt {attempt.number} by {attempt.agent} at {attempt.at:%Y-%m-%d %H:%M:%S}Z ({kind})\n"
                )
                out.write(f"    {attempt.error}\n")
        else:
            incident = attempts.retry(store, args.incident_id, by=getpass.getuser())
            out.write(f"{incident.id} is {incident.status.value} again\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
