"""The one exception tree of devops-healer's core.

Every error the core raises on purpose is a ``HealerError``; the REST face turns it into an
HTTP status (one table in ``server.api.errors``) and the MCP face into a tool error (one table
in ``tools.errors``). Each message says what was wrong and what to do next, because the reader
is often a coding agent; the context a face may need is kept in attributes.

    HealerError
    ├── ConfigError                   healer.toml or settings are wrong (names file, key, expected)
    ├── NotFound
    │   ├── IncidentNotFound
    │   ├── RepoNotConfigured
    │   ├── AgentNotConfigured
    │   ├── RunNotFound
    │   ├── FileNotInRepo             a path the repository does not have (suggests near names)
    │   ├── NoPostmortem              the incident is not verified or escalated yet
    │   └── SourceNotFound *          no [sources.<name>] and no built-in type of that name
    ├── InvalidInput                  a value the caller sent cannot be used (.field)
    │   ├── IdempotencyConflict
    │   ├── PayloadInvalid *          the body is not what that monitor sends (names the JSON path)
    │   └── WebhookSignatureInvalid   a Standard Webhooks signature, id or timestamp does not check out
    ├── Conflict                      the request is fine but the state forbids it
    │   ├── InvalidTransition
    │   │   ├── NotDeadLettered       a retry of an incident that is not in the dead-letter queue
    │   │   └── InvalidReviewMove     a pull request's review state asked to move where it cannot
    │   ├── InvalidRunTransition      the agent run's own table of moves refuses it
    │   ├── ClaimConflict
    │   ├── ApprovalStale             what was to be approved moved; a new request is open
    │   ├── NotRetriageable           retriage is for escalated incidents without a repository
    │   ├── ReviewError               the local pull request cannot be reviewed, merged or closed now
    │   └── TooManyRefusals           an agent's changes were refused too often in a row (.permanent)
    ├── Forbidden                     this person may not do that (approve their own fix, say)
    │   ├── RunScopeRefused           a run token asked for something outside its run
    │   ├── PersonRequired            only a verified person may do that (approve, deny), not a shared token
    │   └── DestinationRefused        a notification would reach loopback, link-local or metadata addresses
    ├── Unauthenticated               a request did not prove who sent it (never echoes the secret)
    │   ├── SignInRefused             the dashboard's sign-in form did not prove who it names
    │   ├── SourceUnauthorized *      a monitor's delivery failed its configured check
    │   ├── WebhookUnauthorized       a GitHub delivery's X-Hub-Signature-256 is missing or wrong
    │   └── DeploymentUnauthorized    POST /deployments carries no configured credential
    └── Unavailable                   something the request needs is missing or down; it may work later
        ├── StoreUnavailable          the database cannot be reached
        ├── RepoUnavailable           the repository cannot be read or fetched
        ├── CertificateUnavailable *  the SNS signing certificate could not be fetched
        ├── WebhookNotConfigured      no GitHub webhook secret, so the endpoint stays shut
        └── DeploymentsNotConfigured  no [deployments] table, so the endpoint stays shut

    * in ``server.intake.sources.errors``, the monitor sources' errors; every other class is here.

The fixer's own tree (``fixer.errors.FixerError``, drawn in its docstring) stays in fixer/,
which knows nothing of this one; ``fixer.errors.PathOutsideRepo`` is the one error for a path
that leaves a repository, raised by the core's repository reads too. The faces' tables
translate both trees.
"""

from __future__ import annotations

from collections.abc import Iterable


class HealerError(Exception):
    """Base of every error devops-healer raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HealerError):
    """healer.toml or an environment setting is wrong."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key


class NotFound(HealerError):
    """What was asked for does not exist."""


class IncidentNotFound(NotFound):
    def __init__(self, incident_id: str) -> None:
        super().__init__(
            f"no incident {incident_id!r}; ids look like INC-20261122-0042. "
            "List incidents with GET /incidents or the get_pending_incidents tool."
        )
        self.incident_id = incident_id


class RepoNotConfigured(NotFound):
    def __init__(self, repo: str, configured: Iterable[str]) -> None:
        names = sorted(configured)
        known = ", ".join(names) if names else "none (add [repos.<name>] to healer.toml)"
        super().__init__(f"repository {repo!r} is not configured; configured repositories: {known}")
        self.repo = repo
        self.configured = names


class AgentNotConfigured(NotFound):
    def __init__(self, agent: str, configured: Iterable[str]) -> None:
        names = sorted(configured)
        known = ", ".join(names) if names else "none (add [agents.<name>] to healer.toml)"
        super().__init__(f"no agent named {agent!r} is configured; configured agents: {known}")
        self.agent = agent


class RunNotFound(NotFound):
    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"no agent run {run_id!r}; run ids are numbers such as 7. "
            "List an incident's runs with GET /incidents/{id}/runs, or all with `healer agents runs`."
        )
        self.run_id = run_id


class FileNotInRepo(NotFound):
    def __init__(self, path: str, repo: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"{path!r} does not exist in repository {repo!r} at its default branch.{hint}")
        self.path = path


class NoPostmortem(NotFound):
    def __init__(self, incident_id: str, status: str) -> None:
        super().__init__(
            f"incident {incident_id} has no postmortem yet: it is {status}, and a postmortem is "
            "written when an incident is verified (its fix held) or escalated to people"
        )
        self.incident_id = incident_id
        self.status = status


class InvalidInput(HealerError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class IdempotencyConflict(InvalidInput):
    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different body; "
            "send a new key for a new incident, or resend the original body to get the first answer.",
            field="Idempotency-Key",
        )
        self.key = key


class WebhookSignatureInvalid(InvalidInput):
    """A webhook whose signature, id or timestamp does not check out."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"webhook signature rejected: {reason}", field="webhook-signature")
        self.reason = reason


class Conflict(HealerError):
    """The request is well formed, but the state of what it names forbids it now."""


class InvalidTransition(Conflict):
    def __init__(self, incident_id: str, current: str, wanted: str, allowed: Iterable[str]) -> None:
        moves = ", ".join(sorted(allowed)) or "none (it is closed)"
        super().__init__(
            f"incident {incident_id} is {current}; it cannot move to {wanted}. From {current} it may move to: {moves}."
        )
        self.incident_id = incident_id
        self.current = current
        self.wanted = wanted


class InvalidReviewMove(InvalidTransition):
    """A review-state move the lifecycle's review table does not allow, said in the review's terms."""

    def __init__(self, incident_id: str, current: str, wanted: str, allowed: Iterable[str]) -> None:
        moves = ", ".join(sorted(allowed)) or "none (the review is over)"
        Conflict.__init__(
            self,
            f"the review of incident {incident_id} is {current}; it cannot become {wanted}. "
            f"From {current} it may become: {moves}.",
        )
        self.incident_id = incident_id
        self.current = current
        self.wanted = wanted


class NotDeadLettered(InvalidTransition):
    """A retry of an incident outside the dead-letter queue: an invalid move, said in the queue's terms."""

    def __init__(self, incident_id: str, current: str) -> None:
        Conflict.__init__(
            self,
            f"{incident_id} is not in the dead-letter queue (it is {current}); only a dead-lettered incident or a "
            "rejected fix can be retried. `healer dlq list` shows the queue.",
        )
        self.incident_id = incident_id
        self.current = current
        self.wanted = "pending"


class InvalidRunTransition(Conflict):
    def __init__(self, run_id: str, current: str, wanted: str, allowed: Iterable[str]) -> None:
        moves = ", ".join(sorted(allowed)) or "none (it has ended)"
        super().__init__(f"run {run_id} is {current}; it cannot become {wanted}. It may become: {moves}.")
        self.run_id = run_id


class ClaimConflict(Conflict):
    def __init__(self, incident_id: str, message: str) -> None:
        super().__init__(f"incident {incident_id}: {message}")
        self.incident_id = incident_id


class ApprovalStale(Conflict):
    """An approval arrived for a change or PR head that has moved since; a new request was opened."""

    def __init__(self, incident_id: str, *, stale_id: int, new_id: int, why: str) -> None:
        super().__init__(
            f"approval {stale_id} for incident {incident_id} is stale: {why}. Nothing ran. A new approval "
            f"(request {new_id}) was requested for what is current now; review it and approve again "
            f"(GET /incidents/{incident_id}/approvals lists it)."
        )
        self.incident_id = incident_id
        self.stale_id = stale_id
        self.new_id = new_id
        self.why = why


class NotRetriageable(Conflict):
    def __init__(self, incident_id: str, why: str) -> None:
        super().__init__(
            f"{incident_id} cannot be triaged again: {why}. Retriage is for incidents escalated because no "
            "repository was mapped to their service."
        )
        self.incident_id = incident_id


class ReviewError(Conflict):
    """A local pull request cannot be reviewed, merged or closed in its present state."""


class TooManyRefusals(Conflict):
    """Changes refused before they ran, too many in a row: the incident goes to people, not back to the agent."""

    #: Retrying would be refused the same way (the dead-letter queue reads this, as it reads the fixer's).
    permanent = True

    def __init__(self, limit: int, last: str) -> None:
        super().__init__(
            f"{limit} changes in a row were refused before they ran (the last: {last[:500]}); the incident "
            "is in the dead-letter queue for a person to look at"
        )
        self.limit = limit


class Forbidden(HealerError):
    """This caller may not do that."""


class RunScopeRefused(Forbidden):
    """A run token is valid for its own incident, while its run lasts, and nothing else."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class PersonRequired(Forbidden):
    """An approval was answered by someone the server could not verify as a configured person."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"{message}. Approvals are given by people: add [people.<login>] to healer.toml (`healer people add "
            "LOGIN` prints a token and the lines to paste) and send that person's token as `Authorization: Bearer "
            "<person token>`, or sign in to the dashboard as that person."
        )


class DestinationRefused(Forbidden):
    """An outgoing notification would reach loopback, link-local or cloud-metadata addresses."""


class Unauthenticated(HealerError):
    """A request did not prove who sent it; the message names the check, never the secret."""


class SignInRefused(Unauthenticated):
    """The dashboard's sign-in form did not prove who it names."""


class WebhookUnauthorized(Unauthenticated):
    """A GitHub delivery without a valid X-Hub-Signature-256."""


class DeploymentUnauthorized(Unauthenticated):
    """A deployment report without a configured credential or a valid signature."""


class Unavailable(HealerError):
    """Something the request needs is missing or down; the same request may work later."""


class StoreUnavailable(Unavailable):
    def __init__(self, message: str) -> None:
        super().__init__(f"the incident store is unavailable: {message}")


class RepoUnavailable(Unavailable):
    """The repository cannot be read: not a git repository, or its clone could not be fetched."""


class WebhookNotConfigured(Unavailable):
    def __init__(self) -> None:
        super().__init__(
            "GitHub webhooks are not configured: set HEALER_GITHUB_WEBHOOK_SECRET to the webhook's secret "
            "(the endpoint is never open without one)"
        )


class DeploymentsNotConfigured(Unavailable):
    def __init__(self) -> None:
        super().__init__(
            "POST /deployments is not configured: add a [deployments] table to healer.toml with bearer_token, "
            "header_secret, basic_username/basic_password or signing_secret (the endpoint is never open without one)"
        )
