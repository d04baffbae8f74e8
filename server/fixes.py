"""Submitting a fix: the incident's lifecycle around one run of the fixer pipeline.

claimed -> fixing -> pr_open when the pull request is opened or updated. A change the policy or
the patch check refuses goes back to claimed (nothing ran; the agent keeps its lease and can send
a better change). A run that failed after it started counts an attempt and returns the incident
to the queue. Both REST (`POST /incidents/{id}/fix`) and MCP (`submit_fix`) call ``FixService``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from fixer import owner
from fixer.errors import BranchTakenOver, ChangeRefused, FixerError, OpenPullRequestCapReached, VerificationRefused
from fixer.forge import Forge
from fixer.models import FixRequest, FixResult, describe_run
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from server import similar
from server.attempts import record_failed_attempt
from server.config import HealerConfig, RepoConfig
from server.errors import ClaimConflict, InvalidInput, TooManyRefusals
from server.fix_models import FixOutcome, FixSubmission
from server.forges import forge_for, repo_spec
from server.logs import bind_incident
from server.models import Incident, Status
from server.redact import redact
from server.reviews import PUSHING
from server.sandboxing import hidden_paths
from server.settings import Settings
from server.store import Store, queries, writes
from server.store.schema import incidents

log = logging.getLogger(__name__)

#: Changes refused before they ran (policy, a patch that does not apply) that one incident takes in a
#: row before it goes to the dead-letter queue: a refusal is the agent's to fix, but not for ever.
MAX_REFUSALS = 10


Progress = Callable[[str, float], None]


class FixService:
    def __init__(
        self,
        store: Store,
        config: HealerConfig,
        settings: Settings,
        *,
        fixer: Fixer | None = None,
        forges: Callable[[RepoConfig], Forge] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.settings = settings
        self.fixer = fixer or Fixer(
            Workspace(settings.home / "workspaces"), hidden=hidden_paths(settings), redact=redact
        )
        self.forges = forges or (lambda repo: forge_for(repo, settings, store))

    def _begin(self, incident_id: str, agent: str, lease: timedelta) -> Incident:
        """claimed -> fixing, only for the agent holding the lease; the lease covers the whole run."""
        from server.store.rows import to_incident

        now = self.store.clock.now()
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            if Status(row.status) != Status.claimed:
                raise ClaimConflict(
                    incident_id,
                    f"is {row.status}; claim it with claim_incident before submitting a fix",
                )
            writes.require_holder(row, incident_id, agent)
            moved = writes.transition(
                connection,
                incident_id,
                Status.fixing,
                now=now,
                actor=f"agent:{agent}",
                event="fix_started",
                # Which process runs it: a restart on this host releases it if that process died.
                updates={"claim_expires_at": now + lease, "fix_owner": owner.identity()},
                row=row,
            )
            return to_incident(moved)

    def submit(
        self,
        incident_id: str,
        submission: FixSubmission,
        *,
        agent: str,
        progress: Progress | None = None,
        submitted_by: str | None = None,
    ) -> FixOutcome:
        """Run ``submission`` for ``agent``'s claim; ``submitted_by`` names the verified person who sent it, if
        one did (they may not approve it then)."""
        incident = self.store.get(incident_id)
        bind_incident(incident.id, incident.trace_id)
        log.info("fix submitted by %s", agent)
        if incident.repo is None:
            raise InvalidInput(
                f"incident {incident_id} (service {incident.service!r}) has no repository: add the service to "
                "`services` of a [repos.<name>] table in healer.toml, then report_fix_status or retry",
                field="incident_id",
            )
        if incident.automation == "root_cause_only":
            raise InvalidInput(
                f"automation for service {incident.service!r} is root_cause_only: no code changes. Report what you "
                "found with report_fix_status(status=needs_review, notes=...) so a person can act on it.",
                field="incident_id",
            )
        repo = self.config.repo(incident.repo)
        spec = repo_spec(repo, self.settings)
        lease = max(self.store.lease, timedelta(seconds=2 * spec.test_timeout_seconds + 600))
        self._begin(incident_id, agent, lease)
        why = self._approval_needed(submission)
        if why is not None:
            held = self._hold_for_approval(incident_id, agent, submission, why, submitted_by)
            if held is not None:
                return held
        return self._run(incident_id, submission, agent=agent, progress=progress)

    def resume(self, incident_id: str, payload: dict[str, Any], progress: Progress | None = None) -> FixOutcome:
        """Run a fix a person just approved (the incident is already fixing)."""
        incident = self.store.get(incident_id)
        bind_incident(incident.id, incident.trace_id)
        submission = FixSubmission.model_validate(payload["submission"])
        with self.store.write() as connection:  # this process runs it now, whoever asked for the approval
            connection.execute(
                update(incidents).where(incidents.c.pk == queries.incident_row(connection, incident_id).pk),
                {"fix_owner": owner.identity()},
            )
        return self._run(incident_id, submission, agent=str(payload["agent"]), progress=progress)

    def _approval_needed(self, submission: FixSubmission) -> str | None:
        from fixer.change import parse_diff
        from server.triage.approval import needs_approval
        from server.triage.policy import routing_policy

        change = submission.change
        if change.diff is not None:
            paths = [item.path for item in parse_diff(change.diff)]
            text = change.diff
        else:
            paths = [edit.path for edit in change.edits or []]
            text = "\n".join(
                "+" + line for edit in change.edits or [] for line in (edit.new or edit.create or "").splitlines()
            )
        return needs_approval(paths, text, routing_policy(self.config).config.approval)

    def _hold_for_approval(
        self, incident_id: str, agent: str, submission: FixSubmission, why: str, submitted_by: str | None = None
    ) -> FixOutcome | None:
        """Hold the change until a person approves it, unless exactly this change is already approved."""
        from server import approvals
        from server.triage.approval import approval_subject
        from server.triage.policy import routing_policy

        subject = approval_subject(submission.change.model_dump_json())
        policy = routing_policy(self.config).config.approval
        now = self.store.clock.now()
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            latest = approvals.latest(connection, row.pk, kind="fix")
            if latest is not None and latest.decision == "approved" and latest.subject == subject:
                return None  # this very change was approved: go on
            detail: dict[str, Any] = {"why": why, "subject": subject}
            if latest is not None and latest.decision == "approved":
                detail["stale"] = f"approval {latest.id} was for {latest.subject}; the change moved"
            approvals.request(
                connection,
                row,
                kind="fix",
                subject=subject,
                requested_by=f"agent:{agent}",
                reason=why,
                policy=policy,
                now=now,
                payload={
                    "submission": submission.model_dump(mode="json"),
                    "agent": agent,
                    **({"submitted_by": submitted_by} if submitted_by else {}),
                },
            )
            writes.transition(
                connection,
                incident_id,
                Status.awaiting_approval,
                now=now,
                actor=f"agent:{agent}",
                event="approval_requested",
                detail=detail,
                row=row,
            )
        return FixOutcome(
            incident_id=incident_id,
            status=Status.awaiting_approval,
            held_for_approval=True,
            approval_reason=why,
            next_steps=(
                f"Held for a person's approval ({why}). Nothing ran yet. When someone approves, the fix runs and "
                "opens the pull request; pick another incident meanwhile."
            ),
        )

    def _run(
        self, incident_id: str, submission: FixSubmission, *, agent: str, progress: Progress | None = None
    ) -> FixOutcome:
        incident = self.store.get(incident_id)
        assert incident.repo is not None
        repo = self.config.repo(incident.repo)
        spec = repo_spec(repo, self.settings)
        request = FixRequest(
            incident_id=incident_id,
            service=incident.service,
            severity=incident.severity.value,
            title=incident.title,
            summary=submission.summary,
            explanation=submission.explanation,
            risk=submission.risk,
            trace_id=incident.trace_id,
            change=submission.change,
            agent=agent,
            incident_url=f"{self.settings.public_url.rstrip('/')}/incidents/{incident_id}"
            if self.settings.public_url
            else None,
            addresses=submission.addresses,
        )
        open_pr = incident.automation != "patch"
        try:
            # Inside the try: a forge that cannot be set up (a GitHub App without its key, say) is a failed
            # attempt like any other, never an incident left in `fixing` until its lease runs out.
            forge = self.forges(repo)
            result = self.fixer.submit(
                spec,
                request,
                forge,
                progress,
                open_pull_request=open_pr,
                before_push=lambda commit: self._pushing(incident_id, agent, commit),
            )
        except ChangeRefused as exc:
            self._back_to_agent(incident_id, agent, exc, counts=False)
            raise
        except VerificationRefused as exc:
            self._back_to_agent(incident_id, agent, exc, counts=True)
            raise
        except OpenPullRequestCapReached as exc:
            self._held_back(incident_id, exc)
            raise
        except BranchTakenOver as exc:
            self._taken_over(incident_id, agent, exc)
            raise
        except FixerError as exc:
            self._failed(incident_id, agent, exc)
            raise
        except Exception as exc:
            self._failed(incident_id, agent, exc)
            raise
        if result.pull_request is None:
            return self._patch_only(incident_id, agent, result)
        if submission.addresses and not result.pull_request.created:
            listed = "\n".join(f"- {item}" for item in submission.addresses)
            forge.comment(
                result.pull_request.number,
                redact(f"Follow-up commit {result.commit[:12]} by {agent} addresses:\n{listed}"),
            )
        return self._opened(incident_id, agent, result, submission)

    def _pushing(self, incident_id: str, agent: str, commit: str) -> None:
        """Record the commit about to be pushed, so the forge's webhook for it reads as the bot's own push
        even when it arrives before the pull request is updated (see ``reviews`` on ``pr_pushed``)."""
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id)
            writes.record_event(
                connection,
                row.pk,
                now=self.store.clock.now(),
                actor=f"agent:{agent}",
                event=PUSHING,
                detail={"commit": commit},
                trace_id=row.trace_id,
            )

    def _patch_only(self, incident_id: str, agent: str, result: FixResult) -> FixOutcome:
        """Automation `patch`: the branch is pushed, a person opens the pull request."""
        now = self.store.clock.now()
        with self.store.write() as connection:
            moved = writes.transition(
                connection,
                incident_id,
                Status.escalated,
                now=now,
                actor=f"agent:{agent}",
                event="patch_pushed",
                detail={"branch": result.branch, "commit": result.commit, "verification": result.verification.verdict},
                updates={"branch": result.branch},
            )
        return FixOutcome(
            incident_id=incident_id,
            status=Status(moved.status),
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
            next_steps="Automation for this service stops at a pushed branch; a person opens the pull request.",
        )

    def _taken_over(self, incident_id: str, agent: str, exc: BranchTakenOver) -> None:
        """A person owns the bot's branch now: the incident is theirs, not a failed attempt."""
        self.store.transition(
            incident_id,
            Status.escalated,
            actor=f"agent:{agent}",
            event="taken_over",
            detail={"why": exc.message, "author": exc.author, "branch": exc.branch},
        )

    def _back_to_agent(self, incident_id: str, agent: str, exc: FixerError, *, counts: bool) -> None:
        """The agent keeps its lease to send a better change; a change that ran and failed its tests
        counts as an attempt (so a loop of failing changes ends), one refused up front does not."""
        if counts:
            with self.store.read() as connection:
                attempts = queries.incident_row(connection, incident_id).attempts + 1
            if attempts >= self.store.max_attempts:
                self._failed(incident_id, agent, exc)
                return
        elif self._refusals_in_a_row(incident_id) + 1 >= MAX_REFUSALS:
            # An agent that keeps sending changes the policy refuses would hold the lease for ever.
            too_many = TooManyRefusals(MAX_REFUSALS, exc.message)
            self._failed(incident_id, agent, too_many)
            raise too_many from exc
        now = self.store.clock.now()
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            writes.transition(
                connection,
                incident_id,
                Status.claimed,
                now=now,
                actor=f"agent:{agent}",
                event="fix_refused",
                detail={"error": type(exc).__name__, "message": exc.message[:2000], "counted": counts},
                updates={
                    "claim_holder": agent,
                    "claim_expires_at": now + self.store.lease,
                    "attempts": row.attempts + (1 if counts else 0),
                },
                row=row,
            )

    def _refusals_in_a_row(self, incident_id: str) -> int:
        """Changes refused up front since the last change that ran, or since a person's retry."""
        count = 0
        for event in reversed(self.store.timeline(incident_id, limit=10_000)):
            if event.event == "fix_refused" and not event.detail.get("counted", False):
                count += 1
            elif event.event in ("fix_refused", "fix_failed", "pr_opened", "pr_updated", "patch_pushed", "retried"):
                break
        return count

    def _held_back(self, incident_id: str, exc: OpenPullRequestCapReached) -> None:
        now = self.store.clock.now()
        with self.store.write() as connection:
            writes.transition(
                connection,
                incident_id,
                Status.pending,
                now=now,
                actor="system",
                event="held_back",
                detail={"why": exc.message},
                updates={"not_before": now + timedelta(minutes=10)},
            )

    def _failed(self, incident_id: str, agent: str, exc: BaseException) -> None:
        """A run that failed after it started: one attempt counted, back after a backoff or dead-lettered."""
        message = exc.message if isinstance(exc, FixerError | TooManyRefusals) else f"{type(exc).__name__}: {exc}"
        permanent = isinstance(exc, TooManyRefusals) or (isinstance(exc, FixerError) and exc.permanent)
        log.warning("fix for %s failed: %s", incident_id, message)
        with self.store.write() as connection:
            record_failed_attempt(
                connection,
                incident_id,
                agent=agent,
                error=f"{type(exc).__name__}: {message}",
                permanent=permanent,
                now=self.store.clock.now(),
                max_attempts=self.store.max_attempts,
                rng=self.store.rng,
            )

    def _opened(self, incident_id: str, agent: str, result: FixResult, submission: FixSubmission) -> FixOutcome:
        pr = result.pull_request
        assert pr is not None
        now = self.store.clock.now()
        detail: dict[str, Any] = {
            "number": pr.number,
            "url": pr.url,
            "draft": pr.draft,
            "commit": result.commit,
            "verification": result.verification.verdict,
            "tests": result.verification.summary()[:2000],
            "created": pr.created,
            "summary": submission.summary,
            "explanation": submission.explanation[:8000],
            "files": result.files_changed[:50],
            "addresses": submission.addresses[:50],
        }
        log.info("pull request #%s %s", pr.number, "opened" if pr.created else "updated")
        with self.store.write() as connection:
            moved = writes.transition(
                connection,
                incident_id,
                Status.pr_open,
                now=now,
                actor=f"agent:{agent}",
                event="pr_opened" if pr.created else "pr_updated",
                detail=detail,
                updates={
                    "branch": result.branch,
                    "pr_url": pr.url,
                    "pr_number": pr.number,
                    "pr_head_sha": result.commit,
                    "review_state": None,
                },
            )
            if pr.created:
                # The root cause and PR title join the incident's search entry with the move.
                similar.reindex(connection, moved.pk)
        return FixOutcome(
            incident_id=incident_id,
            status=Status(moved.status),
            branch=result.branch,
            commit=result.commit,
            pull_request_url=pr.url,
            pull_request_number=pr.number,
            pull_request_created=pr.created,
            draft=pr.draft,
            verification=result.verification.summary(),
            verdict=result.verification.verdict,
            tests_before=describe_run(result.verification.before),
            tests_after=describe_run(result.verification.after),
            files_changed=result.files_changed,
            lines_added=result.lines_added,
            lines_removed=result.lines_removed,
            steps=result.steps,
            next_steps=(
                "The pull request waits for review. "
                + ("It is a draft because the tests did not confirm the fix. " if pr.draft else "")
                + "Nothing more to do unless reviewers ask for changes (it then reappears in get_pending_incidents)."
            ),
        )
