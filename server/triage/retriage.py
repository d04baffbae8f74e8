"""Retriage: route again, with the configuration as it is now, incidents escalated because no repository was mapped.

An incident reported before healer.toml mapped its service is escalated for want of a repository,
and a repeat only counts occurrences. Once the configuration maps it, a person asks for triage to
run again: the repository is looked up afresh, and the incident goes where triage sends it now.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from server.config import HealerConfig
from server.errors import NotRetriageable
from server.models import Status
from server.store import Store, queries
from server.store.rows import public_id, to_incident
from server.store.schema import incidents
from server.triage.decide import Triage
from server.triage.worker import route


class Retriaged(BaseModel):
    """What retriage did with one incident."""

    incident_id: str
    status: Status = Field(description="The status now: pending, monitoring, awaiting_approval, or still escalated.")
    repo: str | None = Field(description="The repository the current configuration maps the service to.")
    moved: bool = Field(description="False when triage still escalates it (nothing was written).")
    reason: str = Field(description="Why triage routed it so.")


def escalated_without_repo(store: Store, limit: int = 1000) -> list[str]:
    """The incidents retriage is for: escalated, with no repository recorded."""
    with store.read() as connection:
        query = (
            select(incidents)
            .where(incidents.c.status == Status.escalated.value, incidents.c.repo.is_(None))
            .order_by(incidents.c.pk)
            .limit(limit)
        )
        return [public_id(row) for row in connection.execute(query)]


def retriage(
    store: Store, config: HealerConfig, incident_ids: list[str] | None, *, by: str, triage: Triage | None = None
) -> list[Retriaged]:
    """Triage each incident again with ``config`` (None: every incident escalated for want of a repository);
    NotRetriageable (or IncidentNotFound) for one that is not escalated for want of a repository. Checked for
    all before any is moved."""
    rules = triage or Triage(config)
    if incident_ids is None:
        incident_ids = escalated_without_repo(store)
    for incident_id in incident_ids:
        _check(store, incident_id)
    return [_one(store, config, rules, incident_id, by) for incident_id in incident_ids]


def _check(store: Store, incident_id: str) -> None:
    incident = store.get(incident_id)
    if incident.status != Status.escalated:
        raise NotRetriageable(incident_id, f"it is {incident.status.value}, not escalated")
    if incident.repo is not None:
        raise NotRetriageable(
            incident_id, f"it is mapped to repository {incident.repo}; send it to the agents instead (retry)"
        )


def _one(store: Store, config: HealerConfig, rules: Triage, incident_id: str, by: str) -> Retriaged:
    incident = store.get(incident_id)
    found = config.repo_for_service(incident.service)
    repo = found.name if found else None
    decision = rules.decide(incident.model_copy(update={"repo": repo}))
    if decision.status == Status.escalated:
        return Retriaged(
            incident_id=incident_id, status=Status.escalated, repo=repo, moved=False, reason=decision.reason
        )
    decision = decision.model_copy(update={"updates": {**decision.updates, "repo": repo}})
    with store.write() as connection:
        row = queries.incident_row(connection, incident_id, for_update=True)
        if row.status != Status.escalated.value or row.repo is not None:
            raise NotRetriageable(incident_id, f"it moved to {row.status} meanwhile")
        routed = route(connection, row, decision, store.clock.now(), rules.approval, actor=f"human:{by}")
    return Retriaged(
        incident_id=incident_id, status=to_incident(routed).status, repo=repo, moved=True, reason=decision.reason
    )
