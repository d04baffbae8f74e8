"""Reviewing on the local forge: what a person does with `healer pr`, and what it does to the incident."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from fixer import forge_local
from fixer.errors import ForgeError
from fixer.forge_local import LocalForge, LocalPullRequest
from server.common.settings import Settings
from server.config import HealerConfig
from server.errors import InvalidInput, NotFound, ReviewError
from server.fixing.forges import local_forge_dir
from server.lifecycle import ReviewState
from server.review import reviews
from server.review.github_webhook import COMMANDS
from server.review.reviews import Kind, ReviewEvent
from server.store import Store
from server.store.prs import StorePullRequests


class PullRequestView(BaseModel):
    pull_request: LocalPullRequest
    diff: str
    comments: list[forge_local.Comment]


def _pr(records: StorePullRequests, number: int) -> LocalPullRequest:
    found = records.get(number)
    if found is None:
        raise NotFound(f"local pull request #{number} does not exist; list them with `healer pr list`")
    return found


def show(store: Store, config: HealerConfig, settings: Settings, number: int) -> PullRequestView:
    records = StorePullRequests(store)
    pr = _pr(records, number)
    bare = local_forge_dir(settings, config.repo(pr.repo))
    return PullRequestView(pull_request=pr, diff=forge_local.diff(bare, pr), comments=records.comments(number))


def _event(pr: LocalPullRequest, kind: Kind, by: str, **fields: Any) -> ReviewEvent:
    return ReviewEvent(
        kind=kind,
        incident_id=pr.incident_id or "",
        number=pr.number,
        actor=f"human:{by}",
        head_sha=pr.head_sha,
        **fields,
    )


def _apply(store: Store, settings: Settings, config: HealerConfig, pr: LocalPullRequest, event: ReviewEvent) -> str:
    """The same code path as a GitHub webhook, from here on."""
    if not pr.incident_id:
        return "recorded (the pull request carries no incident)"
    if pr.incident_id.startswith("revert-"):
        return "recorded (a revert pull request: the incident goes on with its own fix)"
    forge = LocalForge(pr.repo, local_forge_dir(settings, config.repo(pr.repo)), StorePullRequests(store))
    return reviews.apply(store, event, forge)


def review(
    store: Store,
    config: HealerConfig,
    settings: Settings,
    number: int,
    *,
    verdict: Literal["approved", "changes_requested", "commented"],
    body: str,
    by: str,
    file: str | None = None,
    line: int | None = None,
) -> str:
    """A review as on GitHub: an optional inline comment on FILE:LINE, then the verdict on the head commit."""
    records = StorePullRequests(store)
    pr = _pr(records, number)
    if pr.state != "open":
        raise ReviewError(f"pull request #{number} is {pr.state}; only open pull requests can be reviewed")
    if verdict != "approved" and not body.strip():
        raise InvalidInput("say what should change: -m TEXT", field="message")
    if line is not None and file is None:
        raise InvalidInput("--line needs --file", field="line")
    where = f" on {file}:{line}" if file and line else f" on {file}" if file else ""
    records.add_comment(number, by, f"[{verdict}]{where} {body}".rstrip())
    outcomes = []
    if file is not None:
        count = len(records.comments(number))
        thread = f"local-{number}-{count}"
        outcomes.append(
            _apply(
                store,
                settings,
                config,
                pr,
                _event(
                    pr,
                    "finding",
                    by,
                    file=file,
                    line=line,
                    body=body,
                    external_id=thread,
                    thread_id=thread,
                    commit_sha=pr.head_sha,
                ),
            )
        )
    summary = "" if file is not None else body
    outcomes.append(
        _apply(
            store, settings, config, pr, _event(pr, "verdict", by, state=verdict, body=summary, commit_sha=pr.head_sha)
        )
    )
    return outcomes[-1]


def comment(store: Store, config: HealerConfig, settings: Settings, number: int, *, body: str, by: str) -> str:
    """A conversation comment; `/healer retry | stop | explain` are commands (the operator has write access)."""
    records = StorePullRequests(store)
    pr = _pr(records, number)
    if not body.strip():
        raise InvalidInput("the comment is empty: -m TEXT", field="message")
    records.add_comment(number, by, body)
    text = body.strip()
    command = next((name for prefix, name in COMMANDS.items() if text.startswith(prefix)), None)
    if command is None:
        return "comment recorded"
    return _apply(store, settings, config, pr, _event(pr, "command", by, command=command))


RED = {"red", "timed_out"}


def merge_blockers(store: Store, pr: LocalPullRequest) -> list[str]:
    """Why this pull request should not be merged as it is: a draft, red tests, a failing check."""
    why: list[str] = []
    if pr.draft:
        why.append("it is a draft (the tests did not confirm the fix)")
    if not pr.incident_id or pr.incident_id.startswith("revert-"):  # a revert's tests are in its body
        return why
    events = store.timeline(pr.incident_id, limit=10_000)
    latest = next((e for e in reversed(events) if e.event in ("pr_opened", "pr_updated")), None)
    if latest is not None and latest.detail.get("verification") in RED:
        why.append(f"its tests are red ({latest.detail.get('tests') or latest.detail['verification']})")
    ref = store.get(pr.incident_id).pull_request
    if ref is not None and ref.review_state == ReviewState.checks_failed:
        why.append("a check failed on it")
    return why


def merge(
    store: Store, config: HealerConfig, settings: Settings, number: int, *, by: str, force: bool = False
) -> LocalPullRequest:
    """Merge, as a person would on GitHub; a draft or red pull request only with ``force``."""
    records = StorePullRequests(store)
    pr = _pr(records, number)
    blockers = merge_blockers(store, pr) if pr.state == "open" else []
    if blockers and not force:
        raise ReviewError(
            f"pull request #{number} was not merged: {'; '.join(blockers)}. Look at it with `healer pr show "
            f"{number}`, ask for a change with `healer pr review {number} --request-changes -m TEXT`, or merge it "
            "anyway with --force"
        )
    try:
        merged = forge_local.merge(local_forge_dir(settings, config.repo(pr.repo)), records, number, by=by)
    except ForgeError as exc:
        raise ReviewError(exc.message) from exc
    _apply(
        store,
        settings,
        config,
        merged,
        _event(merged, "pr_merged", by, body=merged.merge_commit or "", commit_sha=merged.merge_commit),
    )
    return merged


def close(store: Store, config: HealerConfig, settings: Settings, number: int, *, by: str) -> LocalPullRequest:
    records = StorePullRequests(store)
    _pr(records, number)
    try:
        closed = forge_local.close(records, number)
    except ForgeError as exc:
        raise ReviewError(exc.message) from exc
    _apply(store, settings, config, closed, _event(closed, "pr_closed", by))
    return closed
