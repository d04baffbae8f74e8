"""Reviewing on the local forge: what a person does with `healer pr`, and what it does to the incident."""

from __future__ import annotations

from pydantic import BaseModel

from fixer import forge_local
from fixer.errors import ForgeError
from fixer.forge_local import LocalPullRequest
from server.config import HealerConfig
from server.errors import HealerError, NotFound
from server.fixes import local_forge_dir
from server.models import Status
from server.settings import Settings
from server.store import Store
from server.store.prs import StorePullRequests


class PullRequestView(BaseModel):
    pull_request: LocalPullRequest
    diff: str
    comments: list[forge_local.Comment]


class ReviewError(HealerError):
    status_code = 409


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


def merge(store: Store, config: HealerConfig, settings: Settings, number: int, *, by: str) -> LocalPullRequest:
    records = StorePullRequests(store)
    pr = _pr(records, number)
    try:
        merged = forge_local.merge(local_forge_dir(settings, config.repo(pr.repo)), records, number, by=by)
    except ForgeError as exc:
        raise ReviewError(exc.message) from exc
    if pr.incident_id:
        store.transition(
            pr.incident_id,
            Status.merged,
            actor=f"human:{by}",
            event="pr_merged",
            detail={"number": number, "merge_commit": merged.merge_commit},
        )
    return merged


def close(store: Store, number: int, *, by: str) -> LocalPullRequest:
    records = StorePullRequests(store)
    pr = _pr(records, number)
    try:
        closed = forge_local.close(records, number)
    except ForgeError as exc:
        raise ReviewError(exc.message) from exc
    if pr.incident_id:
        store.transition(
            pr.incident_id, Status.fix_rejected, actor=f"human:{by}", event="pr_closed", detail={"number": number}
        )
    return closed
