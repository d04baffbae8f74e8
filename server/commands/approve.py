"""`healer approve <incident>`: approve what waits for you (a routed incident, or a held fix, which then runs)."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("incident_id", help="The incident (INC-...) that waits for you.")
    parser.add_argument("--as", dest="user", default=None, help="Your name (default: your login name).")
    parser.add_argument("--reason", default="", help="Why; kept on the timeline.")


def answer(args: argparse.Namespace, *, approve: bool) -> int:
    from server import approvals
    from server.errors import HealerError
    from server.fixes import FixService
    from server.store import Store
    from server.triage.policy import routing_policy

    settings, config = load()
    store = Store.open(settings.resolved_database_url)
    user = args.user or getpass.getuser()
    try:
        decided = approvals.answer(
            store,
            args.incident_id,
            user=user,
            approve=approve,
            reason=args.reason,
            policy=routing_policy(config).config.approval,
        )
        sys.stdout.write(f"{args.incident_id}: {decided.outcome} by {user}; now {decided.status.value}\n")
        if decided.payload is not None:
            sys.stdout.write("running the approved fix...\n")
            outcome = FixService(store, config, settings).resume(args.incident_id, decided.payload)
            sys.stdout.write(f"pull request {outcome.pull_request_url} ({outcome.verification})\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0


def run(args: argparse.Namespace) -> int:
    return answer(args, approve=True)
