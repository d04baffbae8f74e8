"""`healer approve <incident> --as LOGIN`: approve what waits for you (a routed incident, or a held fix, which runs).

The command runs where the store is, but being there proves nobody: it answers only as a person
configured in ``[people.<login>]`` whose token it is given (``HEALER_PERSON_TOKEN``, or typed at
the prompt, never on the command line where other users' ``ps`` would see it).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("incident_id", help="The incident (INC-...) that waits for you.")
    parser.add_argument(
        "--as",
        dest="user",
        required=True,
        help="Your login in [people.<login>]; your token comes from HEALER_PERSON_TOKEN or the prompt.",
    )
    parser.add_argument("--reason", default="", help="Why; kept on the timeline.")


def _token(presented: str | None) -> str:
    if presented:
        return presented
    if not sys.stdin.isatty():
        fail("no person token: set HEALER_PERSON_TOKEN to your own token (`healer people add LOGIN` makes one)")
    return getpass.getpass("your person token: ").strip()


def answer(args: argparse.Namespace, *, approve: bool) -> int:
    from fixer.errors import FixerError
    from server.approvals.answers import answer_as
    from server.approvals.people import Verification, load_people
    from server.errors import HealerError
    from server.store import Store

    settings, config = load()
    try:
        people = load_people(config)
    except HealerError as exc:
        fail(exc.message)
    given = settings.person_token.get_secret_value() if settings.person_token else None
    found = people.by_token(_token(given))
    if found is None or found.login.casefold() != args.user.strip().casefold():
        fail(
            f"that is not {args.user}'s person token; approvals are given by people configured in [people.<login>] "
            "of healer.toml, each with their own token (`healer people add LOGIN` makes one)"
        )
    person = people.person(found.login, Verification.cli_token)
    store = Store.from_settings(settings)
    try:
        answered = answer_as(store, config, settings, args.incident_id, person, approve=approve, reason=args.reason)
        decided = answered.decision
        sys.stdout.write(f"{args.incident_id}: {decided.outcome} by {person.login}; now {decided.status.value}\n")
        if answered.fix is not None:
            fix = answered.fix
            sys.stdout.write(f"the approved fix ran: pull request {fix.pull_request_url} ({fix.verification})\n")
    except HealerError as exc:
        fail(exc.message)
    except FixerError as exc:
        # The answer is recorded; the fix it released ran and failed, and the incident's timeline says where it went.
        fail(f"{args.incident_id}: answered by {person.login}, but the released fix failed: {exc.message}")
    finally:
        store.close()
    return 0


def run(args: argparse.Namespace) -> int:
    return answer(args, approve=True)
