"""Similar past incidents as agents see them: what the store found, agent and reported text fenced."""

from __future__ import annotations

from pydantic import BaseModel, Field

from server.common.untrusted import fence, fence_optional
from server.similar.matches import Outcome, SimilarIncident

_SAID = {
    "verified": "verified",
    "regressed": "the fault came back after it",
    "fix_rejected": "the fix was rejected",
    "escalated": "handed to humans",
    "open": "not resolved yet",
}


class PastIncident(BaseModel):
    """An earlier incident that looks like this one, and what became of its fix."""

    id: str
    note: str = Field(description="One line: the incident, its pull request and the outcome.")
    outcome: Outcome = Field(description="verified, regressed, fix_rejected, escalated or open.")
    score: float = Field(description="Relevance, 0 to 1, relative to the best match.")
    title: str = Field(description="Reported text: fenced.")
    service: str
    root_cause: str | None = Field(default=None, description="The earlier fixing agent's words: fenced.")
    pr_title: str | None = Field(default=None, description="The earlier fixing agent's words: fenced.")
    pr_url: str | None = None
    pr_number: int | None = None
    changed_files: list[str] = Field(default_factory=list, description="Files its fix changed.")


def note(found: SimilarIncident) -> str:
    """'INC-... (match 0.93): fixed by PR #12 (verified)', from trusted fields only."""
    if found.pr_number is not None or found.pr_url:
        fix = f"fixed by PR #{found.pr_number}" if found.pr_number is not None else f"fixed by {found.pr_url}"
    else:
        fix = "no pull request"
    return f"This looked like {found.id} (match {found.score:.2f}): {fix} ({_SAID[found.outcome]})."


def past_incidents(found: list[SimilarIncident]) -> list[PastIncident]:
    return [
        PastIncident(
            id=item.id,
            note=note(item),
            outcome=item.outcome,
            score=item.score,
            title=fence(item.title),
            service=item.service,
            root_cause=fence_optional(item.root_cause),
            pr_title=fence_optional(item.pr_title),
            pr_url=item.pr_url,
            pr_number=item.pr_number,
            changed_files=item.changed_files,
        )
        for item in found
    ]
