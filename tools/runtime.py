"""What the MCP tools share: settings, healer.toml and the store, opened on first use.

Agents spawn ``healer mcp`` often, so start-up imports nothing heavy: the store (SQLAlchemy)
is opened by the first tool call that needs it, not when the process starts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig, load_config

if TYPE_CHECKING:
    from fixer.forge_github import GitHubForge
    from server.fixing.submit import FixService
    from server.store import Store


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        config: HealerConfig | None = None,
        store: Store | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``environ``: given by a process of its own (``healer mcp``), whose first store use then makes
        ``redact`` replace the server's secrets by value; ``healer serve`` has done so already."""
        self.settings = settings
        self._config = config
        self._store = store
        self._environ = environ
        self._lock = threading.Lock()
        self._forges: dict[str, GitHubForge] = {}

    @property
    def config(self) -> HealerConfig:
        if self._config is None:
            self._config = load_config(self.settings.config_path)
        return self._config

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from server.hooks import STANDARD
                from server.store import Store

                if self._environ is not None:
                    from server.common.redact import hold_secrets
                    from server.held_secrets import server_secrets

                    hold_secrets(server_secrets(self.settings, self.config, self._environ))

                self._store = Store.from_settings(self.settings, hooks=STANDARD)
            return self._store

    @cached_property
    def fixes(self) -> FixService:
        from server.fixing.submit import FixService

        return FixService(self.store, self.config, self.settings)

    @cached_property
    def cache_root(self) -> Path:
        return self.settings.home / "workspaces"

    def source_auth(self, repo: RepoConfig) -> tuple[str, dict[str, str]] | None:
        """For a repository on GitHub: its clone URL and the git credentials to read it (private repos)."""
        if repo.forge != "github" or repo.url is None:
            return None
        from fixer.errors import FixerError
        from server.fixing.forges import github_forge_for

        try:
            if repo.name not in self._forges:
                self._forges[repo.name] = github_forge_for(repo, self.settings)
            forge = self._forges[repo.name]
            return forge.remote_url(), forge.git_auth_env()
        except FixerError:
            return None  # reading then fails with the fetch's own message (a public repository still works)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
