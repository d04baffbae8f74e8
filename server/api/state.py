"""What every request handler shares: settings, the parsed healer.toml, and the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from server.agents.service import AgentService
from server.approvals.people import People
from server.common.settings import Settings
from server.config import HealerConfig
from server.intake.alerts import DeliveryRequest, DeliveryResult
from server.intake.sources.intake import AlertIntake
from server.review.deployments import DeploymentsConfig
from server.review.worker import ReviewWorker
from server.store import Store
from server.store.writer import GroupCommitter
from server.triage.process import TriageProcess
from server.triage.worker import TriageWorker

#: The largest row id a database column holds (signed 64 bits): larger `after=` values are refused (422).
MAX_ROW_ID = 2**63 - 1


@dataclass
class AlertIntakeState:
    """The monitor sources and the group committer their deliveries share."""

    intake: AlertIntake
    committer: GroupCommitter[DeliveryRequest, DeliveryResult]


@dataclass
class AppState:
    settings: Settings
    config: HealerConfig
    store: Store
    triage: TriageWorker | TriageProcess | None = None
    alerts: AlertIntakeState | None = None
    reviews: ReviewWorker | None = None
    deployments: DeploymentsConfig | None = None
    people: People = field(default_factory=People)
    agents: AgentService | None = None


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.healer
    return state
