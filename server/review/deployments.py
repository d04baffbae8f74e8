"""Deployments: when a merged fix reached an environment that counts, its quiet window may start.

With ``[verification] start = "deploy"`` a merged incident waits in ``merged`` (no window runs)
until a deployment reports ``success`` in one of ``environments`` for a sha that contains the
merge commit (the sha is the merge commit or a descendant of it, asked of git in the fixer's
cached clone). Then ``deployed_at`` is set and a ``deployed`` event (sha, environment) goes on the
timeline; ``server.review.verification`` starts the window from there. A deployment of a sha that does
not contain the merge leaves the incident waiting and says so on its timeline (``deploy_ignored``).

Deployments arrive two ways, both through ``record``: GitHub ``deployment_status`` webhooks (via
``server.review.github_webhook``) and ``POST /deployments`` (``server.api.deployments``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy import select, update

from fixer.errors import FixerError
from server.common.credentials import Secret, resolve_env_fields
from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig
from server.errors import ConfigError, DeploymentsNotConfigured, DeploymentUnauthorized
from server.intake.sources.auth import HttpAuthConfig, http_auth_passes, sha256_signature_matches
from server.models import Status
from server.review.verification import VerificationConfig
from server.store import Store, writes
from server.store.rows import public_id
from server.store.schema import incidents

log = logging.getLogger(__name__)

#: repo, merge commit, deployed sha -> contains it (True), does not (False), or the sha is unknown (None).
Contains = Callable[[RepoConfig, str, str], bool | None]

DeploymentState = Literal["success", "failure", "error", "inactive", "in_progress", "queued", "pending"]


class DeploymentIn(BaseModel):
    """What a deploy tool posts to ``/deployments`` once a deployment finished (or changed state)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    repo: str = Field(
        min_length=1,
        max_length=200,
        description="A repository of healer.toml: its name (`calc`) or its GitHub name (`acme/calc`).",
    )
    sha: str = Field(
        pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$",
        description="The full commit sha that was deployed (40 lower-case hex digits).",
    )
    environment: str = Field(min_length=1, max_length=200, description="Where it was deployed, e.g. production.")
    status: DeploymentState = Field(description="GitHub's deployment states; only `success` counts.")


class DeploymentsConfig(HttpAuthConfig):
    """``[deployments]``: who may post to ``/deployments`` (the same credentials as ``[sources.*]``)."""

    type: str = "deployments"
    name: str = "deployments"
    signing_secret: Secret | None = Field(
        default=None,
        description="Expect `X-Healer-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` under this secret.",
    )
    signature_header: str = Field(default="X-Healer-Signature-256", description="The header of the signature.")

    def http_checks(self) -> list[str]:
        checks = super().http_checks()
        if self.signing_secret is not None:
            checks.append(f"{self.signature_header} signature")
        return checks

    def secrets(self) -> list[SecretStr]:
        values = (self.bearer_token, self.basic_password, self.header_secret, self.signing_secret)
        return [value for value in values if value is not None]


def load_deployments(config: HealerConfig, environ: Mapping[str, str]) -> DeploymentsConfig | None:
    """``[deployments]`` of healer.toml, its ``env:NAME`` secrets read from ``environ``; None when absent."""
    raw = (config.model_extra or {}).get("deployments")
    if raw is None:
        return None
    file = str(config.source_file or "healer.toml")
    if not isinstance(raw, Mapping):
        raise ConfigError("expected a table", file=file, key="deployments")
    try:
        values = resolve_env_fields(DeploymentsConfig, raw, environ, key="deployments")
        loaded = DeploymentsConfig.model_validate(values)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError; never echo the input
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else ""
        message = str(errors[0]["msg"]) if errors else str(exc)
        raise ConfigError(f"deployments.{where}: {message}" if where else message, file=file) from exc
    if not loaded.http_checks():
        raise ConfigError(
            "no credential: set bearer_token, header_secret, basic_username/basic_password or signing_secret",
            file=file,
            key="deployments",
        )
    return loaded


def authenticate(config: DeploymentsConfig | None, headers: Mapping[str, str], body: bytes) -> None:
    """Admit a request carrying one configured credential or a valid body signature; refuse anything else."""
    if config is None:
        raise DeploymentsNotConfigured()
    lowered = {key.lower(): value for key, value in headers.items()}
    if http_auth_passes(lowered, config):
        return
    if config.signing_secret is not None and sha256_signature_matches(
        config.signing_secret, body, lowered.get(config.signature_header.lower())
    ):
        return
    raise DeploymentUnauthorized(
        f"POST /deployments refused the request: it carries none of {' or '.join(config.http_checks())}; "
        "nothing was recorded"
    )


class IncidentOutcome(BaseModel):
    incident_id: str
    outcome: Literal["deployed", "ignored"]
    why: str


class DeploymentOutcome(BaseModel):
    """What one deployment report did."""

    repo: str
    sha: str
    environment: str
    status: str
    incidents: list[IncidentOutcome] = Field(
        default_factory=list, description="Merged incidents waiting for this repository's deploy, and what happened."
    )
    note: str | None = Field(default=None, description="Why nothing was looked at, when nothing was.")

    def summary(self) -> str:
        if self.note is not None:
            return f"ignored: {self.note}"
        if not self.incidents:
            return "ok: no merged incident of this repository waits for a deploy"
        return "; ".join(f"{item.incident_id} {item.outcome}: {item.why}" for item in self.incidents)


def find_repo(config: HealerConfig, name: str) -> RepoConfig | None:
    """A repository by its healer.toml name or its GitHub name."""
    found = config.repos.get(name)
    if found is not None:
        return found
    return next((repo for repo in config.repos.values() if repo.github_repo and repo.github_repo == name), None)


def record(
    store: Store,
    config: HealerConfig,
    verification: VerificationConfig,
    contains: Contains,
    deployment: DeploymentIn,
    *,
    actor: str,
) -> DeploymentOutcome:
    """Apply one deployment report to every merged incident of its repository that waits for a deploy."""
    repo = find_repo(config, deployment.repo)
    outcome = DeploymentOutcome(
        repo=deployment.repo, sha=deployment.sha, environment=deployment.environment, status=deployment.status
    )
    if repo is None:
        outcome.note = f"no repository {deployment.repo!r} in healer.toml"
        return outcome
    outcome.repo = repo.name
    if deployment.status != "success":
        outcome.note = f"a {deployment.status} deployment changes nothing; only success counts"
        return outcome
    with store.read() as connection:
        waiting = connection.execute(
            select(incidents)
            .where(
                incidents.c.repo == repo.name,
                incidents.c.status == Status.merged.value,
                incidents.c.deployed_at.is_(None),
                incidents.c.merge_commit.is_not(None),
            )
            .order_by(incidents.c.pk)
        ).all()
    for row in waiting:
        policy = verification.policy(row.service, row.repo)
        if policy.start != "deploy":
            continue
        incident_id = public_id(row)
        if deployment.environment not in policy.environments:
            why = f"environment {deployment.environment!r} is not one of {', '.join(policy.environments)}"
            outcome.incidents.append(IncidentOutcome(incident_id=incident_id, outcome="ignored", why=why))
            continue
        try:
            found = contains(repo, row.merge_commit, deployment.sha)
            why = (
                f"{deployment.sha[:12]} does not contain the merge commit {row.merge_commit[:12]}"
                if found is False
                else f"{deployment.sha[:12]} is not in the repository (not pushed yet?)"
            )
        except FixerError as exc:
            found, why = False, f"could not compare {deployment.sha[:12]} with the merge: {exc.message}"
        now = store.clock.now()
        if found:
            applied = _deployed(store, incident_id, row.merge_commit, deployment, actor, now)
            if applied:
                why = f"{deployment.sha[:12]} contains the merge commit {row.merge_commit[:12]}"
                outcome.incidents.append(IncidentOutcome(incident_id=incident_id, outcome="deployed", why=why))
            continue
        _note(store, incident_id, deployment, actor, why, now)
        outcome.incidents.append(IncidentOutcome(incident_id=incident_id, outcome="ignored", why=why))
    return outcome


def _deployed(
    store: Store, incident_id: str, merge_commit: str, deployment: DeploymentIn, actor: str, now: datetime
) -> bool:
    from server.store import queries

    with store.write() as connection:
        row = queries.incident_row(connection, incident_id, for_update=True)
        if row.status != Status.merged.value or row.deployed_at is not None or row.merge_commit != merge_commit:
            return False  # moved, or deployed, meanwhile
        connection.execute(update(incidents).where(incidents.c.pk == row.pk).values(deployed_at=now))
        writes.record_event(
            connection,
            row.pk,
            now=now,
            actor=actor,
            event="deployed",
            detail={
                "sha": deployment.sha,
                "environment": deployment.environment,
                "merge_commit": merge_commit,
                "why": "the quiet window starts now",
            },
            trace_id=row.trace_id,
        )
    return True


def _note(store: Store, incident_id: str, deployment: DeploymentIn, actor: str, why: str, now: datetime) -> None:
    from server.store import queries

    with store.write() as connection:
        row = queries.incident_row(connection, incident_id)
        writes.record_event(
            connection,
            row.pk,
            now=now,
            actor=actor,
            event="deploy_ignored",
            detail={"sha": deployment.sha, "environment": deployment.environment, "why": why},
            trace_id=row.trace_id,
        )


def workspace_contains(settings: Settings, store: Store) -> Contains:
    """The real check: git in the fixer's cached clone of the repository, fetched from its forge."""
    from fixer.workspace import Workspace
    from server.fixing.forges import forge_for, repo_spec

    workspace = Workspace(settings.home / "workspaces")

    def check(repo: RepoConfig, commit: str, sha: str) -> bool | None:
        forge = forge_for(repo, settings, store)
        return workspace.contains(repo_spec(repo, settings), forge.remote_url(), forge.git_auth_env(), commit, sha)

    return check
