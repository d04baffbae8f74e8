"""`healer pr list | show N | review N | comment N | merge N | close N`: review the local forge's pull requests.

Reviews, comments, merges and closes go through the same review loop as GitHub's webhooks.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from server.commands.common import fail, load

NUMBER = "The pull request's number, as `healer pr list` shows it (#N)."
#: The bot's markers in a PR body (<!-- healer:body:start -->, <!-- healer:incident=... -->): for machines.
_MARKER = re.compile(r"^<!-- healer:[^>]*-->\n?", re.MULTILINE)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="Pull requests on the local forge.")
    listing.add_argument(
        "--state", choices=["open", "closed", "merged"], default=None, help="Only pull requests in this state."
    )
    listing.add_argument("--repo", default=None, help="Only this repository (its name in healer.toml).")
    for name, text in (
        ("show", "The diff, verification and comments."),
        ("merge", "Merge it."),
        ("close", "Close it."),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument("number", type=int, help=NUMBER)
    review = sub.add_parser("review", help="Approve, request changes or comment, as a reviewer on GitHub would.")
    review.add_argument("number", type=int, help=NUMBER)
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument(
        "--approve", dest="verdict", action="store_const", const="approved", help="Approve the change."
    )
    verdict.add_argument(
        "--request-changes",
        dest="verdict",
        action="store_const",
        const="changes_requested",
        help="Ask for changes: the agent gets your message and findings for a follow-up.",
    )
    verdict.add_argument(
        "--comment", dest="verdict", action="store_const", const="commented", help="Comment without a verdict."
    )
    review.add_argument("-m", "--message", default="", help="What you found or want changed.")
    review.add_argument("--file", default=None, help="Make it an inline finding on this file (repository path).")
    review.add_argument("--line", type=int, default=None, help="The line of --file the finding is about.")
    comment = sub.add_parser("comment", help="Comment; `/healer retry`, `/healer stop`, `/healer explain` command it.")
    comment.add_argument("number", type=int, help=NUMBER)
    comment.add_argument("-m", "--message", required=True, help="The comment (or a /healer command).")
    sub.choices["merge"].add_argument(
        "--force", action="store_true", help="Merge even a draft or a pull request whose tests or checks are red."
    )
    for name in ("merge", "close", "review", "comment"):
        sub.choices[name].add_argument("--as", dest="reviewer", default=None, help="Your name (default: login name)")


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.review import local_review
    from server.store import Store
    from server.store.prs import StorePullRequests

    settings, config = load()
    store = Store.from_settings(settings)
    out = sys.stdout
    try:
        if args.action == "list":
            prs = StorePullRequests(store).list_prs(args.repo, args.state)
            if not prs:
                out.write("no pull requests\n")
            else:
                out.write(f"{'PR':<5} {'STATE':<15} {'REPO':<12} {'BRANCH':<28} TITLE\n")
            for pr in prs:
                flag = " (draft)" if pr.draft and pr.state == "open" else ""
                out.write(f"#{pr.number:<4} {pr.state:<7}{flag:<8} {pr.repo:<12} {pr.head:<28} {pr.title}\n")
        elif args.action == "show":
            view = local_review.show(store, config, settings, args.number)
            pr = view.pull_request
            out.write(f"#{pr.number} {pr.title}\n{pr.state}{' (draft)' if pr.draft else ''}  {pr.head} -> {pr.base}  ")
            out.write(f"head {pr.head_sha[:12] if pr.head_sha else '?'}  incident {pr.incident_id}\n\n")
            out.write(_MARKER.sub("", pr.body).strip() + "\n\n")
            out.write(view.diff + "\n")
            for comment in view.comments:
                out.write(f"--- comment by {comment.author}\n{comment.body}\n")
        else:
            by = args.reviewer or getpass.getuser()
            if args.action == "merge":
                pr = local_review.merge(store, config, settings, args.number, by=by, force=args.force)
                out.write(f"merged #{pr.number} as {pr.merge_commit}\n")
            elif args.action == "close":
                pr = local_review.close(store, config, settings, args.number, by=by)
                out.write(f"closed #{pr.number}\n")
            elif args.action == "review":
                outcome = local_review.review(
                    store,
                    config,
                    settings,
                    args.number,
                    verdict=args.verdict,
                    body=args.message,
                    by=by,
                    file=args.file,
                    line=args.line,
                )
                out.write(f"reviewed #{args.number} ({args.verdict.replace('_', ' ')}): {outcome}\n")
            else:
                outcome = local_review.comment(store, config, settings, args.number, body=args.message, by=by)
                out.write(f"commented on #{args.number}: {outcome}\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
