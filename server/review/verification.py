"""After the merge: did the fix work?

A merged incident watches its source for a quiet window (``[verification] quiet_minutes``,
default 30, per service under ``[verification.services]``). Repeats of the fingerprint keep
landing on the incident as occurrences (it stays open until verified), so the sweep compares
times the store already keeps:

- an occurrence after ``merged_at`` and inside the window -> ``regressed``, then back to
  ``pending`` with the PR linked, and a comment on the PR says so;
- the monitor's "resolved" after ``merged_at``, or a whole window with no occurrence ->
  ``verified``;
- a ``fix_rejected`` incident with an occurrence after ``pr_closed_at`` (new evidence) ->
  ``pending`` again, so a new fix may be tried.

With ``start = "deploy"`` the window starts at ``deployed_at`` instead (set by ``server.review.deployments``
when a deployment containing the merge commit succeeded): a merged incident without it waits in
``merged``, and occurrences before the deploy prove nothing about the fix.

Time comes from the store's clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import and_, or_, select

from fixer.errors import FixerError
from server.common.redact import redact
from server.config import HealerConfig
from server.errors import ConfigError
from server.lifecycle import ReviewState
from server.models import Status
from server.review.reviews import ForgeActions
from server.store import Store, writes
from server.store.rows import public_id
from server.store.schema import incidents

log = logging.getLogger(__name__)


Start = Literal["merge", "deploy"]
OnRegression = Literal["reopen", "revert"]


class VerificationOverride(BaseModel):
    """One repository's or service's own ``[verification]`` keys; unset keys fall back to the table's."""

    model_config = ConfigDict(extra="forbid")

    quiet_minutes: float | None = Field(default=None, gt=0)
    start: Start | None = None
    environments: list[str] | None = None
    on_regression: OnRegression | None = None


class Policy(BaseModel):
    """What applies to one incident: the table's keys, then its repository's, then its service's."""

    window: timedelta
    start: Start
    environments: list[str]
    on_regression: OnRegression


class VerificationConfig(BaseModel):
    """``[verification]`` in healer.toml."""

    model_config = ConfigDict(extra="forbid")

    quiet_minutes: float = Field(default=30, gt=0, description="Quiet time after a merge that counts as fixed.")
    start: Start = Field(default="merge", description="When the quiet window starts: at the merge, or at the deploy.")
    environments: list[str] = Field(
        default_factory=lambda: ["production"], description="Deployments to these environments count (start=deploy)."
    )
    on_regression: OnRegression = Field(
        default="reopen", description="reopen the incident, or also open a revert pull request."
    )
    services: dict[str, float | VerificationOverride] = Field(
        default_factory=dict, description="quiet_minutes, or a table of these keys, per service."
    )
    repos: dict[str, VerificationOverride] = Field(default_factory=dict, description="These keys per repository.")

    def window(self, service: str) -> timedelta:
        return self.policy(service).window

    def policy(self, service: str, repo: str | None = None) -> Policy:
        merged: dict[str, Any] = {
            "quiet_minutes": self.quiet_minutes,
            "start": self.start,
            "environments": self.environments,
            "on_regression": self.on_regression,
        }
        by_service = self.services.get(service)
        layers = [self.repos.get(repo or ""), by_service if isinstance(by_service, VerificationOverride) else None]
        for layer in layers:
            if layer is not None:
                merged.update(layer.model_dump(exclude_none=True))
        if isinstance(by_service, float | int):
            merged["quiet_minutes"] = by_service
        return Policy(
            window=timedelta(minutes=merged["quiet_minutes"]),
            start=merged["start"],
            environments=merged["environments"],
            on_regression=merged["on_regression"],
        )


def load_verification(config: HealerConfig) -> VerificationConfig:
    raw = (config.model_extra or {}).get("verification", {})
    try:
        return VerificationConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(["verification", *(str(part) for part in first["loc"])])
        raise ConfigError(f"{key}: {first['msg']}", file=str(config.source_file or "healer.toml")) from exc


class Moved(BaseModel):
    incident_id: str
    to: Status
    why: str


def sweep(
    store: Store,
    verification: VerificationConfig,
    forge_for: Callable[[str], ForgeActions | None] = lambda _incident: None,
    *,
    limit: int = 200,
    revert: Callable[[str, Any, str], None] | None = None,
) -> list[Moved]:
    """Move every merged or rejected incident whose evidence is in; returns what moved.

    ``revert(incident_id, row, why)`` is called after a regression of a merged fix whose policy says
    ``on_regression = "revert"`` (the incident is already reopened; the revert is extra)."""
    now = store.clock.now()
    with store.read() as connection:
        rows = connection.execute(
            select(incidents)
            .where(
                or_(
                    incidents.c.status == Status.merged.value,
                    and_(
                        incidents.c.status == Status.fix_rejected.value,
                        incidents.c.pr_closed_at.is_not(None),
                        incidents.c.last_seen > incidents.c.pr_closed_at,
                    ),
                )
            )
            .order_by(incidents.c.pk)
            .limit(limit)
        ).all()
    moved: list[Moved] = []
    for row in rows:
        decided = _decide(row, verification, now)
        if decided is None:
            continue
        result = _apply(store, public_id(row), row.status, decided, now)
        if result is None:
            continue
        moved.append(result)
        if result.to == Status.pending and row.pr_number is not None and row.status == Status.merged.value:
            forge = forge_for(result.incident_id)
            if forge is not None:
                try:
                    forge.comment(row.pr_number, redact(_regressed_comment(result.incident_id, decided[1])))
                except FixerError as exc:  # the move stands; the comment is a courtesy
                    log.warning("could not comment on PR #%s of %s: %s", row.pr_number, result.incident_id, exc)
            policy = verification.policy(row.service, row.repo)
            if policy.on_regression == "revert" and revert is not None and row.merge_commit:
                revert(result.incident_id, row, str(decided[1]["why"]))
    return moved


def _decide(row: Any, verification: VerificationConfig, now: datetime) -> tuple[Status, dict[str, Any]] | None:
    if row.status == Status.fix_rejected.value:
        return Status.pending, {
            "why": "the fault occurred again after the pull request was closed: new evidence, a new fix may be tried",
            "last_seen": row.last_seen.isoformat(),
        }
    policy = verification.policy(row.service, row.repo)
    # With start = "deploy" the fix is not running anywhere until a deployment containing it succeeded:
    # nothing before that says anything about it, however long ago the merge was.
    since: datetime | None = row.deployed_at if policy.start == "deploy" else row.merged_at
    if since is None:
        return None
    moment = "the deploy" if policy.start == "deploy" else "the merge"
    window = policy.window
    if row.last_seen > since:
        return Status.regressed, {
            "why": f"it occurred again {_ago(row.last_seen - since)} after {moment}, inside the "
            f"{_ago(window)} quiet window",
            "last_seen": row.last_seen.isoformat(),
            "occurrences": row.occurrences,
        }
    if row.source_resolved_at is not None and row.source_resolved_at >= since:
        return Status.verified, {"why": f"the monitor reported the alert resolved after {moment}", "how": "source"}
    if now >= since + window:
        return Status.verified, {
            "why": f"no occurrence in the {_ago(window)} after {moment}",
            "how": "quiet_window",
            "window_minutes": window.total_seconds() / 60,
        }
    return None


def _apply(
    store: Store, incident_id: str, was: str, decided: tuple[Status, dict[str, Any]], now: datetime
) -> Moved | None:
    to, detail = decided
    with store.write() as connection:
        from server.store import queries

        row = queries.incident_row(connection, incident_id, for_update=True)
        if row.status != was:
            return None  # someone else moved it meanwhile
        if to == Status.regressed:
            row = writes.transition(
                connection,
                incident_id,
                Status.regressed,
                now=now,
                actor="healer:verification",
                event="regressed",
                detail={**detail, "pr": row.pr_url},
                row=row,
            )
            writes.transition(
                connection,
                incident_id,
                Status.pending,
                now=now,
                actor="healer:verification",
                event="reopened",
                detail={"why": "back to the agents with the merged PR linked", "pr": row.pr_url},
                updates={
                    "merged_at": None,
                    "deployed_at": None,
                    "review_state": ReviewState.regressed,
                    "attempts": 0,
                    "not_before": None,
                },
                row=row,
            )
            return Moved(incident_id=incident_id, to=Status.pending, why=str(detail["why"]))
        if to == Status.pending:
            writes.transition(
                connection,
                incident_id,
                Status.pending,
                now=now,
                actor="healer:verification",
                event="new_evidence",
                detail=detail,
                updates={"attempts": 0, "not_before": None},
                row=row,
            )
            return Moved(incident_id=incident_id, to=Status.pending, why=str(detail["why"]))
        writes.transition(
            connection,
            incident_id,
            Status.verified,
            now=now,
            actor="healer:verification",
            event="verified",
            detail=detail,
            updates={"review_state": ReviewState.verified},
            row=row,
        )
        return Moved(incident_id=incident_id, to=Status.verified, why=str(detail["why"]))


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _regressed_comment(incident_id: str, detail: dict[str, Any]) -> str:
    return (
        f"devops-healer: {incident_id} regressed after this pull request was merged: {detail['why']} "
        f"({detail.get('occurrences', '?')} occurrences so far). The incident is open again for another fix."
    )
