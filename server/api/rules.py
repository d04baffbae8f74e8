"""Routes for triage rules: the dry run that shows which rule would decide and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from server.api.state import AppState, app_state
from server.config import HealerConfig
from server.intake.reports import normalize
from server.models import Incident, IncidentIn, Status
from server.triage.classifier import Verdict
from server.triage.decide import Triage
from server.triage.routing import RoutingDecision

router = APIRouter(tags=["rules"])


class RulesTest(BaseModel):
    verdict: Verdict
    routing: RoutingDecision


def dry_run(report: IncidentIn, triage: Triage, config: HealerConfig) -> RulesTest:
    new = normalize(report, config)
    now = datetime.now(UTC)
    incident = Incident(
        id="INC-00000000-0000",
        fingerprint=new.fingerprint,
        source=new.source,
        service=new.service,
        title=new.title,
        error=new.error,
        log_excerpt=new.log_excerpt,
        stack_frames=new.stack_frames,
        severity=new.severity,
        labels=new.labels,
        repo=new.repo,
        status=Status.received,
        first_seen=now,
        last_seen=now,
        trace_id=new.trace_id,
        updated_at=now,
    )
    verdict = triage.classify(incident)
    return RulesTest(verdict=verdict, routing=triage.route(incident, verdict))


@router.post(
    "/rules/test",
    response_model=RulesTest,
    summary="Dry run: how triage would classify and route this report",
    description="Send a body in the POST /incidents shape. Nothing is stored.",
)
def rules_test(report: IncidentIn, state: Annotated[AppState, Depends(app_state)]) -> RulesTest:
    return dry_run(report, Triage(state.config), state.config)
