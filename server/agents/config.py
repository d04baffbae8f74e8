"""``[agents.<name>]`` and ``[dispatch]``: which agent CLIs devops-healer may start, and when.

[agents.claude]
command = ["claude", "-p", "{prompt}", "--mcp-config", "{mcp_config}", "--output-format", "stream-json"]
timeout_minutes = 20
max_concurrent = 2
env = { ANTHROPIC_API_KEY = "env:ANTHROPIC_API_KEY" }

[dispatch]
agent = "claude"
auto = true
max_runs_per_incident = 3
max_runs_per_hour = 20
review_rounds = 2

``env`` values of the form ``env:NAME`` are read from the server's environment once, at start-up;
a missing variable stops start-up with an error naming the key.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from server.config import HealerConfig
from server.errors import ConfigError
from server.models import Category

#: What a command may say; each is filled in per run.
PLACEHOLDERS = frozenset({"prompt", "prompt_file", "mcp_config", "mcp_url", "incident_id", "workdir"})
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
#: Variables the runner sets itself; an agent's `env` may not replace them.
_RESERVED_ENV = frozenset({"PATH", "HOME", "HEALER_RUN_TOKEN", "HEALER_MCP_URL"})


class AgentConfig(BaseModel):
    """One ``[agents.<name>]`` table."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    command: list[str] = Field(min_length=1, description="argv; placeholders in braces are filled per run.")
    timeout_minutes: float = Field(default=20, gt=0, le=24 * 60)
    max_concurrent: int = Field(default=1, ge=1, le=100)
    env: dict[str, SecretStr] = Field(default_factory=dict, description="Only these reach the agent.")
    mcp_transport: Literal["http", "stdio"] = Field(
        default="http", description="http: the config names /mcp; stdio: it runs `healer mcp --connect`."
    )
    max_cost_usd: float | None = Field(default=None, gt=0, description="Stop a run whose reported cost passes it.")
    sandbox: Literal["required", "auto", "off"] | None = Field(
        default=None, description="As for repositories; default: required off loopback, auto on it."
    )
    transcript_cap_bytes: int = Field(default=256_000, ge=4096, le=16_000_000)

    @field_validator("command")
    @classmethod
    def _placeholders_known(cls, value: list[str]) -> list[str]:
        for part in value:
            for _, name, _, _ in string.Formatter().parse(part.replace("{{", "").replace("}}", "")):
                if name is not None and name not in PLACEHOLDERS:
                    raise ValueError(
                        f"unknown placeholder {{{name}}} in {part!r}; use {', '.join(sorted(PLACEHOLDERS))}"
                    )
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        import re

        for name in value:
            if not re.match(_ENV_NAME, name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name in _RESERVED_ENV:
                raise ValueError(
                    f"{name} is set by the runner (PATH as the server's, HOME the run's scratch folder, "
                    "HEALER_RUN_TOKEN and HEALER_MCP_URL for the run)"
                )
        return value

    @property
    def timeout_seconds(self) -> float:
        return self.timeout_minutes * 60


class DispatchConfig(BaseModel):
    """The ``[dispatch]`` table."""

    model_config = ConfigDict(extra="forbid")

    agent: str | None = Field(default=None, description="The default agent; the only one when one is configured.")
    auto: bool = Field(default=False, description="Start a run for every incident triage routes to a fix.")
    max_runs_per_incident: int = Field(default=3, ge=1, le=100)
    max_runs_per_hour: int = Field(default=20, ge=1, le=10_000)
    review_rounds: int = Field(default=2, ge=0, le=20)
    max_cost_usd: float | None = Field(default=None, gt=0, description="Default cost cap of a run.")
    by_service: dict[str, str] = Field(default_factory=dict, description="service -> agent name.")
    by_category: dict[Category, str] = Field(default_factory=dict, description="category -> agent name.")


class AgentsConfig(BaseModel):
    """Every configured agent and the dispatch policy."""

    agents: dict[str, AgentConfig] = Field(default_factory=dict)
    dispatch: DispatchConfig = Field(default_factory=DispatchConfig)

    @property
    def enabled(self) -> bool:
        return bool(self.agents)

    def agent(self, name: str) -> AgentConfig:
        from server.errors import AgentNotConfigured

        found = self.agents.get(name)
        if found is None:
            raise AgentNotConfigured(name, self.agents)
        return found

    def choose(self, *, service: str, category: str | None, asked: str | None = None) -> AgentConfig:
        """The agent for an incident: the one asked for, else by service, by category, the default."""
        if asked:
            return self.agent(asked)
        if service in self.dispatch.by_service:
            return self.agent(self.dispatch.by_service[service])
        if category is not None and Category(category) in self.dispatch.by_category:
            return self.agent(self.dispatch.by_category[Category(category)])
        return self.agent(self.default_agent)

    @property
    def default_agent(self) -> str:
        if self.dispatch.agent:
            return self.dispatch.agent
        return sorted(self.agents)[0] if self.agents else ""

    def cost_cap(self, agent: AgentConfig) -> float | None:
        return agent.max_cost_usd if agent.max_cost_usd is not None else self.dispatch.max_cost_usd


def _where(error: Any) -> tuple[str, str]:
    loc = ".".join(str(part) for part in error["loc"] if part != "[key]")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (see docs/agents.md for the keys an agent table takes)"
    elif error["type"] == "missing":
        message = "missing"
    return loc, message


def load_agents(config: HealerConfig, environ: Mapping[str, str], *, resolve_env: bool = True) -> AgentsConfig:
    """``[agents.*]`` and ``[dispatch]`` of a parsed healer.toml; ``env:NAME`` values read from ``environ``
    (left as they are with ``resolve_env=False``, for commands that only queue or read runs)."""
    extra = config.model_extra or {}
    source = str(config.source_file) if config.source_file else "healer.toml"
    raw_agents = extra.get("agents", {})
    if not isinstance(raw_agents, dict):
        raise ConfigError("expected tables [agents.<name>]", file=source, key="agents")
    agents: dict[str, AgentConfig] = {}
    for name, table in raw_agents.items():
        key = f"agents.{name}"
        if not isinstance(table, dict):
            raise ConfigError("expected a table with at least `command`", file=source, key=key)
        try:
            agent = AgentConfig.model_validate(table)
        except ValidationError as exc:
            loc, message = _where(exc.errors()[0])
            raise ConfigError(message, file=source, key=f"{key}.{loc}") from exc
        agent.name = name
        for env_name, value in list(agent.env.items()):
            raw = value.get_secret_value()
            if raw.startswith("env:") and resolve_env:
                variable = raw.removeprefix("env:")
                found = environ.get(variable)
                if not found:
                    raise ConfigError(
                        f"'env:{variable}' but the environment variable {variable} is not set",
                        file=source,
                        key=f"{key}.env.{env_name}",
                    )
                agent.env[env_name] = SecretStr(found)
        agents[name] = agent
    try:
        dispatch = DispatchConfig.model_validate(extra.get("dispatch", {}))
    except ValidationError as exc:
        loc, message = _where(exc.errors()[0])
        raise ConfigError(message, file=source, key=f"dispatch.{loc}") from exc
    named = [("dispatch.agent", dispatch.agent)] if dispatch.agent else []
    named += [(f"dispatch.by_service.{s}", a) for s, a in dispatch.by_service.items()]
    named += [(f"dispatch.by_category.{c.value}", a) for c, a in dispatch.by_category.items()]
    for key, name in named:
        if name not in agents:
            known = ", ".join(sorted(agents)) or "none (add an [agents.<name>] table)"
            raise ConfigError(f"no agent named {name!r}; configured agents: {known}", file=source, key=key)
    if dispatch.auto and not agents:
        raise ConfigError("auto = true needs at least one [agents.<name>] table", file=source, key="dispatch.auto")
    return AgentsConfig(agents=agents, dispatch=dispatch)
