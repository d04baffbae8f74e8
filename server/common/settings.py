"""Process settings from the environment (HEALER_ prefix), built once and passed down."""

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from server.common.credentials import Secret


def default_home() -> Path:
    return Path("~/.local/share/devops-healer").expanduser()


class Settings(BaseSettings):
    """Everything a process reads from its environment. Tokens are SecretStr: never printed."""

    model_config = SettingsConfigDict(env_prefix="HEALER_", extra="ignore", populate_by_name=True)

    home: Path = Field(default_factory=default_home, description="Where the database, caches and config live.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file healer.db under home."
    )
    config: Path | None = Field(default=None, description="The healer.toml file; default: healer.toml under home.")
    api_token: Secret | None = Field(default=None, description="Bearer token for the REST and HTTP MCP faces.")
    person_token: SecretStr | None = Field(
        default=None, description="`healer approve|deny --as LOGIN`: that person's own token (else it is asked for)."
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest request body accepted.")
    lease_seconds: int = Field(default=900, ge=10, description="How long an agent's claim lasts unless renewed.")
    max_attempts: int = Field(default=3, ge=1, description="Fix attempts before an incident leaves the queue.")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL", description="FULL fsyncs every commit: a 2xx means the incident is on disk."
    )
    log_level: str = Field(default="INFO")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra Host header values every route accepts (DNS rebinding guard), /mcp included.",
    )
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HEALER_GITHUB_TOKEN", "GITHUB_TOKEN")
    )
    github_url: str = Field(default="https://api.github.com", description="GitHub Enterprise: https://HOST/api/v3")
    github_app_id: int | None = Field(default=None, description="GitHub App auth instead of a token.")
    github_app_private_key: SecretStr | None = Field(default=None, description="The App's private key (PEM).")
    github_app_installation_id: int | None = None
    github_seconds_between_requests: float = Field(
        default=0.25, ge=0, description="Pause between GitHub API calls (GitHub's guidance against secondary limits)."
    )
    github_seconds_between_writes: float = Field(
        default=1.0, ge=0, description="Pause between GitHub API writes (GitHub asks for at least one second)."
    )
    github_webhook_secret: Secret | None = Field(default=None, description="Secret of the GitHub webhook.")
    review_worker: bool = Field(
        default=True,
        description="Apply GitHub deliveries and check merged fixes inside `healer serve`; false when "
        "`healer reviews process` runs elsewhere (cron, a worker replica).",
    )
    review_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the review loop checks quiet windows without a delivery."
    )
    bot_name: str = Field(default="devops-healer[bot]", description="Author of the bot's commits.")
    bot_email: str = Field(default="devops-healer@users.noreply.invalid")
    bind_host: str = Field(
        default="127.0.0.1", description="The address `healer serve` binds (its --host sets it); loopback or not."
    )
    public_url: str | None = Field(
        default=None, description="Where people reach this server (links in PRs and notifications)."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'healer.db'}"

    @property
    def config_path(self) -> Path:
        return self.config if self.config is not None else self.home / "healer.toml"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (the API token is then optional)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
