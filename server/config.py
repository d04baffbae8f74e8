"""healer.toml: the service map (which repository fixes which service) and the per-repo settings.

A missing file is an empty map. A wrong file stops start-up with a ConfigError that names the
file, the key and what was expected, e.g.
``/etc/healer.toml: repos.payments.test_command: expected a string, got 42``.
"""

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fixer.models import PolicyConfig
from server.errors import ConfigError, RepoNotConfigured

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RepoConfig(BaseModel):
    """One ``[repos.<name>]`` table."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    path: Path | None = Field(default=None, description="A local clone (read, never modified).")
    url: str | None = Field(default=None, description="A clone URL; cloned into the cache under HEALER_HOME.")
    default_branch: str = "main"
    test_command: str | None = None
    test_timeout_seconds: int = Field(default=600, ge=1)
    services: list[str] = Field(default_factory=list)
    test_output_cap_bytes: int = Field(default=64_000, ge=1024)
    forge: Literal["local", "github"] = "local"
    github_repo: str | None = Field(default=None, description="owner/name on GitHub, for forge = 'github'.")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="What a fix may touch.")
    sandbox: Literal["required", "auto", "off"] | None = Field(
        default=None,
        description="How the test command is sandboxed; default: required off loopback, auto on it "
        "(server/fixing/sandboxing.py).",
    )
    test_network: bool = Field(default=False, description="Let the sandboxed test command reach the network.")

    @field_validator("default_branch")
    @classmethod
    def _branch_is_safe(cls, value: str) -> str:
        # A branch name reaches git's command line: one starting with "-" would be read as an option.
        if not value or value.startswith("-") or ".." in value or any(c.isspace() for c in value):
            raise ValueError("expected a branch name that does not start with '-' and has no spaces or '..'")
        return value

    @model_validator(mode="after")
    def _one_location(self) -> "RepoConfig":
        if (self.path is None) == (self.url is None):
            raise ValueError("expected exactly one of `path` (a local clone) or `url` (a clone URL)")
        if self.forge == "github" and not self.github_repo:
            raise ValueError("forge = 'github' needs github_repo = 'owner/name'")
        return self


class HealerConfig(BaseModel):
    """The whole healer.toml. Later sections (sources, routing, notify) add their own tables."""

    model_config = ConfigDict(extra="allow")

    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    source_file: Path | None = None

    def repo(self, name: str) -> RepoConfig:
        found = self.repos.get(name)
        if found is None:
            raise RepoNotConfigured(name, self.repos)
        return found

    def repo_for_service(self, service: str) -> RepoConfig | None:
        """The repository that declares ``service`` in its ``services`` list (or is named like it)."""
        for repo in self.repos.values():
            if service in repo.services:
                return repo
        return self.repos.get(service)


def _describe(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    got = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown key (check the spelling against the README's configuration table)"
    if error["type"] == "missing":
        return f"{loc}: missing; {message.lower()}"
    if isinstance(got, str | int | float | bool) and error["type"] not in ("value_error", "assertion_error"):
        return f"{loc}: {message.lower()}, got {got!r}"
    return f"{loc}: {message}"


#: Every top-level table healer.toml may have; each section's module validates its own.
KNOWN_TABLES = (
    "repos",
    "sources",
    "triage",
    "routing",
    "notify",
    "review",
    "verification",
    "people",
    "agents",
    "dispatch",
    "deployments",
)


class ReviewConfig(BaseModel):
    """``[review]``: whose review comments are tasks for the agent."""

    model_config = ConfigDict(extra="forbid")

    trusted_authors: list[str] = Field(
        default_factory=lambda: ["coderabbitai[bot]"],
        description="Logins whose findings are tasks, besides people with write access (replaces the default).",
    )


def parse_config(data: dict[str, Any], *, source: str = "healer.toml", base_dir: Path | None = None) -> HealerConfig:
    """Validate a parsed healer.toml; relative repo paths are taken from the file's folder."""
    for key in data:
        if key not in KNOWN_TABLES:
            close = [name for name in KNOWN_TABLES if name[:3] == str(key)[:3]]
            hint = f" (did you mean [{close[0]}]?)" if close else f"; expected one of {', '.join(KNOWN_TABLES)}"
            raise ConfigError(f"unknown table{hint}", file=source, key=str(key))
    try:
        ReviewConfig.model_validate(data.get("review", {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0]), file=source, key="review") from exc
    try:
        config = HealerConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(_describe(first), file=source) from exc
    for name, repo in config.repos.items():
        if not _NAME_RE.match(name):
            raise ConfigError(
                "expected a repository name of letters, digits, '.', '_' or '-'",
                file=source,
                key=f"repos.{name}",
            )
        repo.name = name
        if repo.path is not None:
            path = repo.path.expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            repo.path = path
    return config


def load_config(path: Path) -> HealerConfig:
    """Read healer.toml; a missing file means no repositories are configured yet."""
    if not path.exists():
        return HealerConfig(source_file=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot be read ({exc.strerror})", file=str(path)) from exc
    config = parse_config(data, source=str(path), base_dir=path.parent)
    config.source_file = path
    return config
