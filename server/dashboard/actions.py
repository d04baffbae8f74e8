"""What a person does from an incident's page: approve, deny, retry, send to agents, escalate, resolve.

Each action is the same core call the REST API and the CLI make (``server.approvals.answers``,
``server.fixing.attempts``, ``Store.transition`` through the lifecycle table), with the person's name
as the actor, so every action is on the timeline as ``human:NAME``. Approving and denying need
a person who signed in with their own password or token; the others take the session's name.
"""

from __future__ import annotations

import re
from enum import StrEnum

from server import lifecycle
from server.approvals.answers import answer_as
from server.approvals.people import Person
from server.common.settings import Settings
from server.config import HealerConfig
from server.errors import InvalidInput, PersonRequired
from server.fixing import attempts
from server.models import Incident, Status
from server.store import Store

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$")


class Action(StrEnum):
    approve = "approve"
    deny = "deny"
    retry = "retry"
    send_to_agents = "send_to_agents"
    escalate = "escalate"
    resolve = "resolve"


LABELS: dict[Action, str] = {
    Action.approve: "Approve",
    Action.deny: "Deny",
    Action.retry: "Retry",
    Action.send_to_agents: "Send to agents",
    Action.escalate: "Escalate",
    Action.resolve: "Resolve",
}

#: Each form's reason field names its action, so a screen reader's list of fields tells them apart.
REASON_LABELS: dict[Action, str] = {
    Action.approve: "Reason for approving",
    Action.deny: "Reason for denying",
    Action.retry: "Reason for retrying",
    Action.send_to_agents: "Reason for sending it to the agents",
    Action.escalate: "Reason for escalating",
    Action.resolve: "Reason for resolving",
}

HINTS: dict[Action, str] = {
    Action.approve: "The incident goes to the agents, or the held fix runs and opens its pull request.",
    Action.deny: "Nothing runs; the incident goes to humans (escalated).",
    Action.retry: "Back to the agents with a fresh attempt budget.",
    Action.send_to_agents: "Back to the queue (pending) for a coding agent to claim, with a fresh attempt budget.",
    Action.escalate: "Take it away from the agents: a person handles it.",
    Action.resolve: "Close it by hand; a repeat of the same fault opens a new incident.",
}

#: A fix is running in these states: moving the incident under it would race the fixer.
_BUSY = frozenset({Status.fixing})


def available(incident: Incident) -> list[Action]:
    """The actions this incident's state allows, in the order the page offers them."""
    status = incident.status
    allowed = set(lifecycle.allowed_from(status))
    found: list[Action] = []
    if status == Status.awaiting_approval:
        found += [Action.approve, Action.deny]
    if status in (Status.dead_letter, Status.fix_rejected):
        found.append(Action.retry)
    if status == Status.escalated and incident.repo is not None:
        found.append(Action.send_to_agents)
    found += agent_runner_actions(incident)
    if Status.escalated in allowed and status not in _BUSY and status != Status.awaiting_approval:
        found.append(Action.escalate)
    if Status.resolved in allowed and status not in _BUSY:
        found.append(Action.resolve)
    return found


def agent_runner_actions(incident: Incident) -> list[Action]:
    """Where "Start agent" (run a coding agent on this incident now) goes once the agent runner exists.

    Nothing yet: the page offers only what this build can do."""
    del incident
    return []


def check_name(name: str) -> str:
    name = name.strip()
    if not NAME.match(name):
        raise InvalidInput(
            "a name is 1 to 64 letters, digits, spaces or . _ @ - and starts with a letter or digit", field="name"
        )
    return name


def perform(
    store: Store,
    config: HealerConfig,
    settings: Settings,
    incident_id: str,
    action: Action,
    *,
    person: str,
    verified: Person | None = None,
    reason: str = "",
) -> str:
    """Do ``action`` as ``person``; returns what happened in a sentence. Raises HealerError when refused.

    ``verified`` is the person the session proved; only they may approve or deny."""
    person = check_name(person)
    reason = reason.strip()[:2000]
    actor = f"human:{person}"
    if action in (Action.approve, Action.deny):
        if verified is None:
            raise PersonRequired(
                f"{person} did not sign in with a person's own password or token; sign out, then sign in as "
                "yourself at /login"
            )
        approve = action == Action.approve
        answered = answer_as(store, config, settings, incident_id, verified, approve=approve, reason=reason)
        if answered.fix is not None:
            return f"Approved; the held fix ran: {answered.fix.status.value}."
        decided = answered.decision
        return f"{decided.outcome.capitalize()}: the incident is now {decided.status.value}."
    if action == Action.retry:
        moved = attempts.retry(store, incident_id, by=person)
        return f"Sent back to the agents: the incident is now {moved.status.value}."
    if action == Action.send_to_agents:
        return _send_to_agents(store, incident_id, person, reason)
    target = Status.escalated if action == Action.escalate else Status.resolved
    current = store.get(incident_id)
    if current.status in _BUSY:
        raise InvalidInput(
            f"incident {incident_id} is {current.status.value}: a fix is running; wait for it to finish", field="action"
        )
    moved = store.transition(
        incident_id,
        target,
        actor=actor,
        event="escalated" if target == Status.escalated else "resolved",
        detail={"by": person, "why": reason or f"{action.value}d from the dashboard"},
        expect={current.status},
    )
    return f"{LABELS[action]}d: the incident is now {moved.status.value}."


def _send_to_agents(store: Store, incident_id: str, person: str, reason: str) -> str:
    """escalated -> pending (the lifecycle's "a person hands it back to the agents"), when a repository is mapped."""
    current = store.get(incident_id)
    if current.status != Status.escalated:
        raise InvalidInput(
            f"incident {incident_id} is {current.status.value}; only an escalated incident is sent to the agents",
            field="action",
        )
    if current.repo is None:
        raise InvalidInput(
            f"incident {incident_id} (service {current.service!r}) has no repository, so no agent can fix it: add the "
            "service to `services` of a [repos.<name>] table in healer.toml and restart healer serve",
            field="action",
        )
    moved = store.transition(
        incident_id,
        Status.pending,
        actor=f"human:{person}",
        event="sent_to_agents",
        detail={"by": person, "why": reason or "sent to the agents from the dashboard"},
        expect={Status.escalated},
        updates={"attempts": 0, "not_before": None},
    )
    return f"Sent to the agents: the incident is now {moved.status.value}."
