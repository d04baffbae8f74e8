"""`healer notify secret`: a new Standard Webhooks signing secret for a webhook channel."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("secret", help="Print a new whsec_... secret (share it with the receiver, store it in env).")


def run(args: argparse.Namespace) -> int:
    from server.notify.signing import generate_secret

    sys.stdout.write(generate_secret() + "\n")
    return 0
