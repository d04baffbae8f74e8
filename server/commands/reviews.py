"""`healer reviews process`: one pass of the review loop, for deployments that run it outside `healer serve`."""

from __future__ import annotations

import argparse
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sub.add_parser("process", help="Apply recorded GitHub deliveries, then move merged fixes whose window ended.")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.review.worker import ReviewWorker
    from server.store import Store

    settings, config = load()
    store = Store.from_settings(settings)
    try:
        applied, moved = ReviewWorker(store, config, settings).step()
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    sys.stdout.write(f"applied {applied} GitHub deliveries\n")
    for item in moved:
        sys.stdout.write(f"{item.incident_id} -> {item.to.value}: {item.why}\n")
    return 0
