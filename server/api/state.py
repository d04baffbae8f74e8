"""What every request handler shares: settings, the parsed healer.toml, and the store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from server.config import HealerConfig
from server.settings import Settings
from server.store import Store
from server.triage.worker import TriageWorker


@dataclass
class AppState:
    settings: Settings
    config: HealerConfig
    store: Store
    triage: TriageWorker | None = None


async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.healer
    return state
