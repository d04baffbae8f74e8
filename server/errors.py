"""The one exception tree of devops-healer's core.

Every error the core raises on purpose is a ``HealerError``; the REST face turns it into an
HTTP status (one handler in ``server.api.errors``) and the MCP face into a tool error (one
adapter in ``tools.errors``). Each message says what was wrong and what to do next, because
the reader is often a coding agent.

    HealerError
    ├── ConfigError                   healer.toml or settings are wrong (names file, key, expected)
    ├── NotFound
    │   ├── IncidentNotFound
    │   ├── RepoNotConfigured
    │   ├── AgentNotConfigured
    │   └── RunNotFound
    ├── InvalidInput                  a value the caller sent cannot be used
    │   ├── PathOutsideRepo
    │   └── IdempotencyConflict
    ├── Conflict                      the request is fine but the incident's state forbids it
    │   ├── InvalidTransition
    │   │   ├── NotDeadLettered       a retry of an incident that is not in the dead-letter queue
    │   │   └── InvalidReviewMove     a pull request's review state asked to move where it cannot
    │   ├── ClaimConflict
    │   └── ApprovalStale             what was to be approved moved; a new request is open
    ├── Forbidden                     this person may not do that (approve their own fix, say)
    │   ├── RunScopeRefused           a run token asked for something outside its run
    │   └── PersonRequired            only a verified person may do that (approve, deny), not a shared token
    ├── SignInRefused                 the dashboard's sign-in form did not prove who it names
    ├── StoreUnavailable              the database cannot be reached
    └── (fixer.errors.FixerError lives in fixer/, which knows nothing of this tree;
         the faces translate it too)
"""

from __future__ import annotations

from collections.abc import Iterable


class HealerError(Exception):
    """Base of every error devops-healer raises on purpose."""

    #: HTTP status the REST face answers with; the MCP face ignores it.
    status_code = 500

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
    status_code = 404


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


class InvalidInput(HealerError):
    status_code = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PathOutsideRepo(InvalidInput):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"path {path!r} is refused: {reason}. Pass a path relative to the repository root, such as app/db.py.",
            field="file_path",
        )
        self.path = path
        self.reason = reason


class IdempotencyConflict(InvalidInput):
    status_code = 409

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different body; "
            "send a new key for a new incident, or resend the original body to get the first answer.",
            field="Idempotency-Key",
        )
        self.key = key


class Conflict(HealerError):
    status_code = 409


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


class Forbidden(HealerError):
    status_code = 403


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


class SignInRefused(HealerError):
    status_code = 401


class DestinationRefused(Forbidden):
    """An outgoing notification would reach loopback, link-local or cloud-metadata addresses."""


class StoreUnavailable(HealerError):
    status_code = 503

    def __init__(self, message: str) -> None:
        super().__init__(f"the incident store is unavailable: {message}")
