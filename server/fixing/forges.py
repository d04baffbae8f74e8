"""Forge selection: the fixer's repository spec and forge for a configured repository (local or GitHub)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fixer.forge import Forge
from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.models import BotIdentity, RepoSpec
from server.common.settings import Settings
from server.config import RepoConfig
from server.fixing.sandboxing import sandbox_mode
from server.store import Store
from server.store.prs import StorePullRequests

if TYPE_CHECKING:  # PyGithub is imported only when a repository is on GitHub
    from fixer.forge_github import GitHubForge, GitHubForgeSettings

__all__ = ["forge_for", "github_forge_for", "github_forge_settings", "local_forge_dir", "repo_spec"]


def repo_spec(repo: RepoConfig, settings: Settings) -> RepoSpec:
    return RepoSpec(
        name=repo.name,
        path=repo.path,
        url=repo.url,
        default_branch=repo.default_branch,
        test_command=repo.test_command,
        test_timeout_seconds=repo.test_timeout_seconds,
        test_output_cap_bytes=repo.test_output_cap_bytes,
        sandbox=sandbox_mode(repo, settings),
        test_network=repo.test_network,
        forge=repo.forge,
        github_repo=repo.github_repo,
        policy=repo.policy,
        bot=BotIdentity(name=settings.bot_name, email=settings.bot_email),
    )


def local_forge_dir(settings: Settings, repo: RepoConfig) -> Path:
    """The local forge's bare repository: the configured URL when it is one, else one under HEALER_HOME."""
    if repo.url and not repo.url.startswith(("https://", "http://", "ssh://", "git@")):
        return Path(repo.url)
    return settings.home / "forge" / f"{repo.name}.git"


def github_forge_settings(settings: Settings) -> GitHubForgeSettings:
    """The GitHub forge's part of the process settings."""
    from fixer.forge_github import GitHubForgeSettings

    return GitHubForgeSettings(
        token=settings.github_token,
        app_id=settings.github_app_id,
        app_private_key=settings.github_app_private_key,
        app_installation_id=settings.github_app_installation_id,
        base_url=settings.github_url,
        seconds_between_requests=settings.github_seconds_between_requests,
        seconds_between_writes=settings.github_seconds_between_writes,
    )


def github_forge_for(repo: RepoConfig, settings: Settings) -> GitHubForge:
    """The GitHub forge for a repository with ``forge = "github"``."""
    from fixer.forge_github import github_forge

    return github_forge(repo.github_repo or "", github_forge_settings(settings))


def forge_for(repo: RepoConfig, settings: Settings, store: Store) -> Forge:
    """The forge a fix for ``repo`` pushes to and opens its pull request on."""
    if repo.forge == "github":
        return github_forge_for(repo, settings)
    source = str(repo.path) if repo.path is not None else str(repo.url)
    bare = ensure_bare_remote(source, local_forge_dir(settings, repo))
    return LocalForge(repo.name, bare, StorePullRequests(store))
