"""`healer people add LOGIN` makes a person's token (and password hash); `healer people revoke LOGIN` signs them out."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser(
        "add", help="Print a new person token once, and the [people.<login>] lines to paste into healer.toml."
    )
    add.add_argument("login", help="The person's login, as in [people.<login>] (letters, digits, . _ -).")
    add.add_argument(
        "--password",
        action="store_true",
        help="Also ask for a dashboard password (read twice, or one line from stdin) and print its scrypt hash.",
    )
    revoke = sub.add_parser("revoke", help="End every dashboard session signed in under LOGIN, now.")
    revoke.add_argument("login", help="The person whose dashboard sessions end now.")


def _password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("dashboard password: ")
    if getpass.getpass("again: ") != first:
        fail("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    from server.approvals.people import LOGIN, new_token, password_hash, token_hash

    if not LOGIN.match(args.login):
        fail("a login is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
    if args.action == "revoke":
        return _revoke(args.login)
    token = new_token()
    lines = [f"[people.{args.login}]", f'token_sha256 = "{token_hash(token)}"']
    if args.password:
        password = _password()
        if len(password) < 12:
            fail("a dashboard password has at least 12 characters")
        lines.append(f'password_hash = "{password_hash(password)}"')
    sys.stdout.write(
        f"{args.login}'s person token (shown once; give it to {args.login} only):\n\n    {token}\n\n"
        "Paste into healer.toml, then restart healer serve:\n\n" + "\n".join(lines) + "\n"
    )
    return 0


def _revoke(login: str) -> int:
    from server.errors import HealerError
    from server.store import Store
    from server.store.sessions import end_sessions_of

    settings, _config = load()
    try:
        store = Store.from_settings(settings)
    except HealerError as exc:
        fail(exc.message)
    try:
        ended = end_sessions_of(store, login)
    finally:
        store.close()
    sys.stdout.write(f"ended {ended} dashboard session(s) of {login}\n")
    return 0
