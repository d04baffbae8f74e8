"""The agent's argv and environment: a scrubbed environment, and the sandbox around the command.

No server secret reaches an agent: its environment is built from nothing, with only ``PATH``,
``HOME`` (the run's scratch folder), the locale, the run's own ``HEALER_RUN_TOKEN`` and
``HEALER_MCP_URL`` (for CLIs that take a bearer token from a variable, and for the stdio relay),
and the variables its ``env`` table lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fixer.sandbox import SandboxMode, SandboxSpec, wrap
from server.agents.config import AgentConfig

_LOCALE = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class HostView:
    """What the server passes on to every agent from its own environment, read once at start-up, and
    what agents must never see (HEALER_HOME, the config file, the database, the clone cache)."""

    path: str = _DEFAULT_PATH
    locale: tuple[tuple[str, str], ...] = ()
    hidden: tuple[Path, ...] = field(default_factory=tuple)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, hidden: tuple[Path, ...] = ()) -> HostView:
        return cls(
            path=environ.get("PATH") or _DEFAULT_PATH,
            locale=tuple((name, environ[name]) for name in _LOCALE if environ.get(name)),
            hidden=hidden,
        )


def agent_env(agent: AgentConfig, host: HostView, *, home: Path, token: str, url: str) -> dict[str, str]:
    env = {"PATH": host.path, "HOME": str(home), **dict(host.locale), "HEALER_RUN_TOKEN": token, "HEALER_MCP_URL": url}
    env.update({name: value.get_secret_value() for name, value in agent.env.items()})
    return env


def sandboxed(
    argv: list[str], *, writable: tuple[Path, ...], hidden: tuple[Path, ...], mode: SandboxMode, cwd: Path
) -> list[str]:
    """``argv`` inside the sandbox, network on (agents call their model's API), per ``mode``:
    required refuses to run without bubblewrap (SandboxUnavailable); auto uses it whenever it is
    there; off runs the command as it is."""
    spec = SandboxSpec(writable=writable, hidden=hidden, network=True)
    return wrap(list(argv), spec, mode, cwd=cwd)
