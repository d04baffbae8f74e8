"""`healer pr list | show N | merge N | close N`: review the local forge's pull requests."""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="Pull requests on the local forge.")
    listing.add_argument("--state", choices=["open", "closed", "merged"], default=None)
    listing.add_argument("--repo", default=None)
    for name, text in (
        ("show", "The diff, verification and comments."),
        ("merge", "Merge it."),
        ("close", "Close it."),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument("number", type=int)
    for name in ("merge", "close"):
        sub.choices[name].add_argument("--as", dest="reviewer", default=None, help="Your name (default: login name)")


def run(args: argparse.Namespace) -> int:
    from server import local_review
    from server.errors import HealerError
    from server.store import Store
    from server.store.prs import StorePullRequests

    settings, config = load()
    store = Store.open(settings.resolved_database_url, synchronous=settings.sqlite_synchronous)
    out = sys.stdout
    try:
        if args.action == "list":
            prs = StorePullRequests(store).list_prs(args.repo, args.state)
            if not prs:
                out.write("no pull requests\n")
            for pr in prs:
                flag = " (draft)" if pr.draft and pr.state == "open" else ""
                out.write(f"#{pr.number:<4} {pr.state:<7}{flag:<8} {pr.repo:<12} {pr.head:<28} {pr.title}\n")
        elif args.action == "show":
            view = local_review.show(store, config, settings, args.number)
            pr = view.pull_request
            out.write(f"#{pr.number} {pr.title}\n{pr.state}{' (draft)' if pr.draft else ''}  {pr.head} -> {pr.base}  ")
            out.write(f"head {pr.head_sha[:12] if pr.head_sha else '?'}  incident {pr.incident_id}\n\n")
            out.write(pr.body + "\n\n")
            out.write(view.diff + "\n")
            for comment in view.comments:
                out.write(f"--- comment by {comment.author}\n{comment.body}\n")
        else:
            by = args.reviewer or getpass.getuser()
            if args.action == "merge":
                pr = local_review.merge(store, config, settings, args.number, by=by)
                out.write(f"merged #{pr.number} as {pr.merge_commit}\n")
            else:
                pr = local_review.close(store, args.number, by=by)
                out.write(f"closed #{pr.number}\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
