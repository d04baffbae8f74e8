"""Submitting a fix: the incident's lifecycle around one run of the fixer pipeline.

claimed -> fixing -> pr_open when the pull request is opened or updated. A change the policy or
the patch check refuses goes back to claimed (nothing ran; the agent keeps its lease and can send
a better change). A run that failed after it started counts an attempt and returns the incident
to the queue. Both REST (`POST /incidents/{id}/fix`) and MCP (`submit_fix`) call ``FixService``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, update

from fixer import owner
from fixer.errors import BranchTakenOver, ChangeRefused, FixerError, OpenPullRequestCapReached, VerificationRefused
from fixer.forge import Forge
from fixer.models import FixRequest, FixResult, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from server.common.logs import bind_incident
from server.common.redact import redact
from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig
from server.errors import ClaimConflict, InvalidInput, TooManyRefusals
from server.fixing.attempts import record_failed_attempt
from server.fixing.forges import forge_for, repo_spec
from server.fixing.models import FixOutcome, FixSubmission
from server.fixing.sandboxing import hidden_paths
from server.models import Incident, Status
from server.review.reviews import PUSHING
from server.similar import matches as similar
from server.store import Store, queries, writes
from server.store.rows import AnyRow
from server.store.schema import incidents

if TYPE_CHECKING:
    from server.approvals.policy import ApprovalPolicy, FixGate

log = logging.getLogger(__name__)

#: Changes refused before they ran (policy, a patch that does not apply) that one incident takes in a
#: row before it goes to the dead-letter queue: a refusal is the agent's to fix, but not for ever.
MAX_REFUSALS = 10


Progress = Callable[[str, float], None]


class FixService:
    """One submission is one walk down and back: gather what the fix needs (the incident, its repository, the
    approval gate), move it to fixing in one write (or hold it for a person), run the fixer pipeline once, and
    record what came of it in one write."""

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
        from server.approvals.policy import fix_gate
        from server.triage.policy import routing_policy

        incident = self._fixable(incident_id)
        log.info("fix submitted by %s", agent)
        repo, spec = self._repo(incident)
        policy = routing_policy(self.config).config.approval
        gate = fix_gate(submission.change, policy)
        lease = max(self.store.lease, timedelta(seconds=2 * spec.test_timeout_seconds + 600))
        held = self._begin(incident_id, agent, lease, submission, gate, policy, submitted_by)
        if held is not None:
            return held
        return self._run(incident, repo, spec, submission, agent=agent, progress=progress)

    def resume(self, incident_id: str, payload: dict[str, Any], progress: Progress | None = None) -> FixOutcome:
        """Run a fix a person just approved (the incident is already fixing)."""
        incident = self.store.get(incident_id)
        bind_incident(incident.id, incident.trace_id)
        assert incident.repo is not None  # it was checked when the fix was held
        repo, spec = self._repo(incident)
        submission = FixSubmission.model_validate(payload["submission"])
        with self.store.write() as connection:  # this process runs it now, whoever asked for the approval
            connection.execute(
                update(incidents).where(incidents.c.pk == queries.incident_row(connection, incident_id).pk),
                {"fix_owner": owner.identity()},
            )
        return self._run(incident, repo, spec, submission, agent=str(payload["agent"]), progress=progress)

    # -- gathering -------------------------------------------------------------------------------

    def _fixable(self, incident_id: str) -> Incident:
        """The incident, if a code change may be made for it."""
        incident = self.store.get(incident_id)
        bind_incident(incident.id, incident.trace_id)
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
        return incident

    def _repo(self, incident: Incident) -> tuple[RepoConfig, RepoSpec]:
        assert incident.repo is not None
        repo = self.config.repo(incident.repo)
        return repo, repo_spec(repo, self.settings)

    # -- going down: claimed -> fixing, or held for a person ---------------------------------------

    def _begin(
        self,
        incident_id: str,
        agent: str,
        lease: timedelta,
        submission: FixSubmission,
        gate: FixGate | None,
        policy: ApprovalPolicy,
        submitted_by: str | None,
    ) -> FixOutcome | None:
        """claimed -> fixing, only for the agent holding the lease (the lease covers the whole run); then, when
        the gate holds the change and exactly this change is not approved yet, fixing -> awaiting_approval with
        an approval request. Returns the held outcome, or None when the fix goes on."""
        from server.approvals import records as approvals

        now = self.store.clock.now()
        actor = f"agent:{agent}"
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            if Status(row.status) != Status.claimed:
                raise ClaimConflict(
                    incident_id,
                    f"is {row.status}; claim it with claim_incident before submitting a fix",
                )
            writes.require_holder(row, incident_id, agent)
            row = writes.transition(
                connection,
                incident_id,
                Status.fixing,
                now=now,
                actor=actor,
                event="fix_started",
                # Which process runs it: a restart on this host releases it if that process died.
                updates={"claim_expires_at": now + lease, "fix_owner": owner.identity()},
                row=row,
            )
            if gate is None:
                return None
            latest = approvals.latest(connection, row.pk, kind="fix")
            if latest is not None and latest.decision == "approved" and latest.subject == gate.subject:
                return None  # this very change was approved: go on
            detail: dict[str, Any] = {"why": gate.why, "subject": gate.subject}
            if latest is not None and latest.decision == "approved":
                detail["stale"] = f"approval {latest.id} was for {latest.subject}; the change moved"
            approvals.request(
                connection,
                row,
                kind="fix",
                subject=gate.subject,
                requested_by=actor,
                reason=gate.why,
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
                actor=actor,
                event="approval_requested",
                detail=detail,
                row=row,
            )
        return FixOutcome.of(
            incident_id,
            Status.awaiting_approval,
            f"Held for a person's approval ({gate.why}). Nothing ran yet. When someone approves, the fix runs and "
            "opens the pull request; pick another incident meanwhile.",
            held=gate.why,
        )

    # -- the fixer pipeline, once ----------------------------------------------------------------

    def _run(
        self,
        incident: Incident,
        repo: RepoConfig,
        spec: RepoSpec,
        submission: FixSubmission,
        *,
        agent: str,
        progress: Progress | None = None,
    ) -> FixOutcome:
        incident_id = incident.id
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
        try:
            # Inside the try: a forge that cannot be set up (a GitHub App without its key, say) is a failed
            # attempt like any other, never an incident left in `fixing` until its lease runs out.
            forge = self.forges(repo)
            result = self.fixer.submit(
                spec,
                request,
                forge,
                progress,
                open_pull_request=incident.automation != "patch",
                # The commit about to be pushed goes on the timeline first, so the forge's webhook for it reads
                # as the bot's own push even when it arrives before the pull request is updated (see
                # ``reviews`` on ``pr_pushed``).
                before_push=self.store.recorder(incident_id, actor=f"agent:{agent}", event=PUSHING, key="commit"),
            )
        except Exception as exc:
            raised = self._record_failure(incident_id, agent, exc)
            if raised is not exc:
                raise raised from exc
            raise
        if submission.addresses and result.pull_request is not None and not result.pull_request.created:
            listed = "\n".join(f"- {item}" for item in submission.addresses)
            forge.comment(
                result.pull_request.number,
                redact(f"Follow-up commit {result.commit[:12]} by {agent} addresses:\n{listed}"),
            )
        return self._record_result(incident_id, agent, result, submission)

    # -- coming back: what came of it, in one write ------------------------------------------------

    def _record_result(self, incident_id: str, agent: str, result: FixResult, submission: FixSubmission) -> FixOutcome:
        """fixing -> pr_open (the pull request is opened or updated), or -> escalated for automation `patch`
        (the branch is pushed, a person opens the pull request)."""
        now = self.store.clock.now()
        pr = result.pull_request
        if pr is None:
            to, event = Status.escalated, "patch_pushed"
            detail: dict[str, Any] = {
                "branch": result.branch,
                "commit": result.commit,
                "verification": result.verification.verdict,
            }
            updates: dict[str, Any] = {"branch": result.branch}
            steps = "Automation for this service stops at a pushed branch; a person opens the pull request."
        else:
            log.info("pull request #%s %s", pr.number, "opened" if pr.created else "updated")
            to, event = Status.pr_open, "pr_opened" if pr.created else "pr_updated"
            detail = {
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
            updates = {
                "branch": result.branch,
                "pr_url": pr.url,
                "pr_number": pr.number,
                "pr_head_sha": result.commit,
                "review_state": None,
            }
            steps = (
                "The pull request waits for review. "
                + ("It is a draft because the tests did not confirm the fix. " if pr.draft else "")
                + "Nothing more to do unless reviewers ask for changes (it then reappears in get_pending_incidents)."
            )
        with self.store.write() as connection:
            moved = writes.transition(
                connection,
                incident_id,
                to,
                now=now,
                actor=f"agent:{agent}",
                event=event,
                detail=detail,
                updates=updates,
            )
            if pr is not None and pr.created:
                # The root cause and PR title join the incident's search entry with the move.
                similar.reindex(connection, moved.pk)
        return FixOutcome.of(incident_id, Status(moved.status), steps, result)

    def _record_failure(self, incident_id: str, agent: str, exc: Exception) -> BaseException:
        """Move the incident for a run that did not open a pull request, in one write; returns the error to raise.

        A change refused up front goes back to the agent (not counted); one that ran and failed its tests goes
        back to the agent as an attempt (so a loop of failing changes ends); the open-PR cap holds the incident
        back; a person owning the bot's branch takes the incident over; anything else is a failed attempt."""
        now = self.store.clock.now()
        actor = f"agent:{agent}"
        raised: BaseException = exc
        with self.store.write() as connection:
            row = queries.incident_row(connection, incident_id, for_update=True)
            if isinstance(exc, ChangeRefused | VerificationRefused):
                counts = isinstance(exc, VerificationRefused)
                if counts and row.attempts + 1 >= self.store.max_attempts:
                    self._failed(connection, row, incident_id, agent, exc, now)
                elif not counts and _refusals_in_a_row(connection, incident_id) + 1 >= MAX_REFUSALS:
                    # An agent that keeps sending changes the policy refuses would hold the lease for ever.
                    raised = TooManyRefusals(MAX_REFUSALS, exc.message)
                    self._failed(connection, row, incident_id, agent, raised, now)
                else:
                    writes.transition(
                        connection,
                        incident_id,
                        Status.claimed,
                        now=now,
                        actor=actor,
                        event="fix_refused",
                        detail={"error": type(exc).__name__, "message": exc.message[:2000], "counted": counts},
                        updates={
                            "claim_holder": agent,
                            "claim_expires_at": now + self.store.lease,
                            "attempts": row.attempts + (1 if counts else 0),
                        },
                        row=row,
                    )
            elif isinstance(exc, OpenPullRequestCapReached):
                writes.transition(
                    connection,
                    incident_id,
                    Status.pending,
                    now=now,
                    actor="system",
                    event="held_back",
                    detail={"why": exc.message},
                    updates={"not_before": now + timedelta(minutes=10)},
                    row=row,
                )
            elif isinstance(exc, BranchTakenOver):  # a person owns the bot's branch now: the incident is theirs
                writes.transition(
                    connection,
                    incident_id,
                    Status.escalated,
                    now=now,
                    actor=actor,
                    event="taken_over",
                    detail={"why": exc.message, "author": exc.author, "branch": exc.branch},
                    row=row,
                )
            else:
                self._failed(connection, row, incident_id, agent, exc, now)
        return raised

    def _failed(
        self, connection: Connection, row: AnyRow, incident_id: str, agent: str, exc: BaseException, now: datetime
    ) -> None:
        """A run that failed after it started: one attempt counted, back after a backoff or dead-lettered."""
        message = exc.message if isinstance(exc, FixerError | TooManyRefusals) else f"{type(exc).__name__}: {exc}"
        permanent = isinstance(exc, TooManyRefusals) or (isinstance(exc, FixerError) and exc.permanent)
        log.warning("fix for %s failed: %s", incident_id, message)
        record_failed_attempt(
            connection,
            incident_id,
            agent=agent,
            error=f"{type(exc).__name__}: {message}",
            permanent=permanent,
            now=now,
            max_attempts=self.store.max_attempts,
            rng=self.store.rng,
            row=row,
        )


def _refusals_in_a_row(connection: Connection, incident_id: str) -> int:
    """Changes refused up front since the last change that ran, or since a person's retry."""
    count = 0
    for event in reversed(queries.timeline_of(connection, incident_id, limit=10_000)):
        if event.event == "fix_refused" and not event.detail.get("counted", False):
            count += 1
        elif event.event in ("fix_refused", "fix_failed", "pr_opened", "pr_updated", "patch_pushed", "retried"):
            break
    return count
