"""The dashboard's view of a local forge's pull request: what `healer pr show` prints, and its reviews."""

from __future__ import annotations

from dataclasses import dataclass

from server.api.state import AppState
from server.review import local_review, reviews
from server.review.local_review import PullRequestView
from server.review.models import FixFeedback

#: A diff longer than this is cut on the page (`healer pr show N` prints all of it).
DIFF_LIMIT = 200_000


@dataclass
class PullView:
    shown: PullRequestView
    feedback: FixFeedback | None
    diff: str
    diff_cut: bool


def load(state: AppState, number: int) -> PullView:
    """The pull request, its diff and comments, and the review loop's reading of it. Raises NotFound."""
    shown = local_review.show(state.store, state.config, state.settings, number)
    incident = shown.pull_request.incident_id
    feedback = reviews.feedback(state.store, incident) if incident else None
    return PullView(
        shown=shown,
        feedback=feedback,
        diff=shown.diff[:DIFF_LIMIT],
        diff_cut=len(shown.diff) > DIFF_LIMIT,
    )
