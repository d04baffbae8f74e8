"""On a regression with ``[verification] on_regression = "revert"``: a revert pull request, and what agents see.

``open_for`` asks the fixer (``fixer.revert``) to revert the merged fix on ``healer/revert-<incident>``,
tested like any fix, then records ``revert_opened`` (or ``revert_failed``, the reopened incident
stands either way) on the timeline. ``failed_fix`` reads the timeline back for
``get_incident_details``: the fix that regressed, its pull request, its merge commit and the revert.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import update

from fixer.errors import FixerError
from fixer.forge import Forge
from fixer.pipeline import Fixer
from fixer.revert import RevertRequest, open_revert
from server.common.redact import redact
from server.common.settings import Settings
from server.config import RepoConfig
from server.models import TimelineEvent
from server.store import Store, writes
from server.store.schema import incidents

log = logging.getLogger(__name__)


class FailedFix(BaseModel):
    """The last merged fix that regressed: do not submit it again."""

    pull_request: str | None = Field(default=None, description="The merged pull request whose fix came back.")
    merge_commit: str | None = None
    why: str = Field(description="How it regressed.")
    revert_pull_request: str | None = Field(
        default=None, description="The revert devops-healer proposed (never merged by the bot)."
    )


def failed_fix(timeline: list[TimelineEvent]) -> FailedFix | None:
    """The newest regression on the timeline, with the merge before it and the revert after it."""
    last = max((i for i, e in enumerate(timeline) if e.event == "regressed"), default=None)
    if last is None:
        return None
    regressed = timeline[last]
    merge = next((e for e in reversed(timeline[:last]) if e.event == "pr_merged"), None)
    revert = next((e for e in timeline[last:] if e.event == "revert_opened"), None)
    return FailedFix(
        pull_request=_text(regressed.detail.get("pr")),
        merge_commit=_text(merge.detail.get("merge_commit")) if merge else None,
        why=str(regressed.detail.get("why", "")),
        revert_pull_request=_text(revert.detail.get("url")) if revert else None,
    )


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def open_for(
    store: Store,
    settings: Settings,
    repo: RepoConfig,
    forge: Forge,
    *,
    incident_id: str,
    merge_commit: str,
    pr_number: int,
    pr_url: str,
    why: str,
    fixer: Fixer | None = None,
) -> str | None:
    """Open the revert pull request and record it; its URL, or None when it could not be opened."""
    from fixer.workspace import Workspace
    from server.fixing.forges import repo_spec
    from server.fixing.sandboxing import hidden_paths

    fixer = fixer or Fixer(Workspace(settings.home / "workspaces"), hidden=hidden_paths(settings), redact=redact)
    request = RevertRequest(
        incident_id=incident_id, merge_commit=merge_commit, original_number=pr_number, original_url=pr_url, why=why
    )
    try:
        result = open_revert(fixer, repo_spec(repo, settings), request, forge)
    except FixerError as exc:
        log.warning("could not open a revert for %s: %s", incident_id, exc.message)
        _record(store, incident_id, "revert_failed", {"why": exc.message, "merge_commit": merge_commit})
        return None
    detail = {
        "number": result.number,
        "url": result.url,
        "branch": result.branch,
        "commit": result.commit,
        "reverted": merge_commit,
        "how": "git revert -m 1" if result.parents > 1 else "git revert",
        "verification": result.verification.verdict,
        "tests": result.verification.summary()[:2000],
        "why": f"the fix regressed; revert proposed in #{result.number}, to be merged by a person",
    }
    _record(store, incident_id, "revert_opened", detail, revert_pr_url=result.url)
    return result.url


def _record(store: Store, incident_id: str, event: str, detail: dict[str, Any], **updates: Any) -> None:
    from server.store import queries

    with store.write() as connection:
        row = queries.incident_row(connection, incident_id, for_update=True)
        if updates:
            connection.execute(update(incidents).where(incidents.c.pk == row.pk).values(**updates))
        writes.record_event(
            connection,
            row.pk,
            now=store.clock.now(),
            actor="healer:verification",
            event=event,
            detail=detail,
            trace_id=row.trace_id,
        )
