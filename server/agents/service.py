"""The runner inside `healer serve`: built from healer.toml and settings once, wired to /mcp and the dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server.agents.config import AgentsConfig, load_agents
from server.agents.dispatch import Dispatcher, request_run
from server.agents.gate import guard_routes
from server.agents.launch import HostView
from server.agents.runner import Runner, RunnerSettings
from server.agents.runs import AgentRun
from server.common.settings import Settings
from server.config import HealerConfig
from server.fixing.sandboxing import default_mode, hidden_paths
from server.store import Store

log = logging.getLogger(__name__)


@dataclass
class AgentService:
    """What the REST face and the dashboard need: the configuration, and a way to wake the dispatcher."""

    config: AgentsConfig
    dispatcher: Dispatcher | None = None

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def dispatch(self, store: Store, incident_id: str, *, agent: str | None, trigger: str) -> AgentRun:
        """Queue a run of ``agent`` (else the one the rules choose) on the incident, and wake the dispatcher
        (in a process without one, `healer serve`'s picks it up from the store)."""
        run = request_run(store, self.config, incident_id, agent=agent, trigger=trigger)
        self.wake()
        return run


def mcp_url(host: str, port: int) -> str:
    """The server's own /mcp, as an agent on this machine reaches it."""
    if host in ("0.0.0.0", "::", "", "localhost"):  # noqa: S104 - naming the address, not binding
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/mcp"


def build(
    settings: Settings,
    config: HealerConfig,
    store: Store,
    *,
    host: str,
    port: int,
    environ: Mapping[str, str],
    mcp_routes: list[Any],
    run_agents: bool = True,
) -> AgentService:
    """The agents' configuration, the /mcp gate, and (when agents are configured) the dispatcher."""
    agents = load_agents(config, environ)
    guard_routes(mcp_routes, store)
    if not agents.enabled or not run_agents:
        return AgentService(agents)
    if settings.api_token is None:
        log.warning(
            "agent runs are configured but HEALER_API_TOKEN is not set: any process on this machine, an agent "
            "included, can call /mcp without a run token; set HEALER_API_TOKEN so runs stay scoped"
        )
    secrets = [
        settings.api_token,
        settings.github_token,
        settings.github_webhook_secret,
        settings.github_app_private_key,
    ]
    runner = Runner(
        store,
        agents,
        RunnerSettings(
            mcp_url=mcp_url(host, port),
            host=HostView.from_environ(environ, hidden=hidden_paths(settings)),
            sandbox=default_mode(settings),
            server_secrets=tuple(s.get_secret_value() for s in secrets if s is not None),
        ),
    )
    return AgentService(agents, Dispatcher(store, agents, runner))
