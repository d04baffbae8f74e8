"""`healer postmortem INC-...`: print an incident's postmortem (Markdown)."""

from __future__ import annotations

import argparse
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("incident_id", help="e.g. INC-20261122-0042")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.review.postmortem import require
    from server.store import Store

    settings, _config = load()
    store = Store.from_settings(settings)
    try:
        sys.stdout.write(require(store, args.incident_id))
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
