"""What goes into a fix submission and what comes back: light models the MCP tools load at start-up."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, Field, ValidationError

from fixer.models import Change, FixResult, describe_run
from server.errors import InvalidInput
from server.models import Status


class FixSubmission(BaseModel):
    """The body of `POST /incidents/{id}/fix` and the arguments of `submit_fix`."""

    change: Change
    summary: str = Field(
        min_length=3,
        max_length=200,
        description="One line for the PR title (`title` is accepted too, as submit_fix calls it).",
        validation_alias=AliasChoices("summary", "title"),
    )
    explanation: str = Field(min_length=10, max_length=20_000, description="The root cause, in your words.")
    risk: str | None = Field(default=None, max_length=5_000)
    addresses: list[str] = Field(default_factory=list, max_length=50)

    @classmethod
    def of(
        cls, change: Change, title: str, explanation: str, *, risk: str | None, addresses: list[str]
    ) -> FixSubmission:
        """A submission from a tool's arguments, or InvalidInput saying the first thing wrong with it."""
        try:
            return cls(change=change, summary=title, explanation=explanation, risk=risk, addresses=addresses)
        except ValidationError as exc:
            raise InvalidInput(f"the fix is not usable: {exc.errors()[0]['msg']}") from exc


class FixOutcome(BaseModel):
    incident_id: str
    status: Status
    held_for_approval: bool = Field(default=False, description="A person must approve before anything runs.")
    approval_reason: str | None = None
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None
    pull_request_number: int | None = None
    pull_request_created: bool = False
    draft: bool = False
    verification: str | None = Field(default=None, description="The verdict and what the tests did before and after.")
    verdict: str | None = Field(
        default=None,
        description="green, improved, unchanged (a follow-up that broke nothing), red, timed_out or not_run",
    )
    tests_before: str | None = Field(default=None, description="e.g. '3 failing', 'passing', 'not run'")
    tests_after: str | None = None
    files_changed: list[str] = Field(default_factory=list)
    lines_added: int = 0
    lines_removed: int = 0
    steps: list[tuple[str, float]] = Field(default_factory=list)
    next_steps: str

    @classmethod
    def of(
        cls,
        incident_id: str,
        status: Status,
        next_steps: str,
        result: FixResult | None = None,
        *,
        held: str | None = None,
    ) -> FixOutcome:
        """The answer to a submission: what the fixer did (``result``, with its pull request if it opened one), or
        why the change is ``held`` for a person's approval before anything runs."""
        fields: dict[str, Any] = {}
        if held is not None:
            fields.update(held_for_approval=True, approval_reason=held)
        if result is not None:
            fields.update(
                branch=result.branch,
                commit=result.commit,
                verification=result.verification.summary(),
                verdict=result.verification.verdict,
                tests_before=describe_run(result.verification.before),
                tests_after=describe_run(result.verification.after),
                files_changed=result.files_changed,
                lines_added=result.lines_added,
                lines_removed=result.lines_removed,
                steps=result.steps,
            )
        pr = result.pull_request if result is not None else None
        if pr is not None:
            fields.update(
                pull_request_url=pr.url, pull_request_number=pr.number, pull_request_created=pr.created, draft=pr.draft
            )
        return cls(incident_id=incident_id, status=status, next_steps=next_steps, **fields)
