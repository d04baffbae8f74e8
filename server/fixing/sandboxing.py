"""The test sandbox as the server sets it up: each repository's mode, what stays hidden, the start-up line.

Where the default mode is resolved: here, for every fix run (``repo_spec`` calls ``sandbox_mode``).
A repository without ``sandbox`` in healer.toml gets ``required`` when the server is reachable from
other machines, ``auto`` otherwise; reachable means any of: ``healer serve`` bound to a non-loopback
address (``HEALER_BIND_HOST``, set by ``--host``), ``HEALER_ALLOWED_HOSTS`` naming hosts (a reverse
proxy in front), or ``HEALER_PUBLIC_URL`` on a non-loopback host.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from fixer.sandbox import BWRAP, SandboxMode, bwrap_path
from server.common.settings import Settings, is_loopback
from server.config import HealerConfig, RepoConfig

log = logging.getLogger(__name__)


def exposed(settings: Settings) -> bool:
    """Whether anything beyond this machine can reach the server (and so submit changes to test)."""
    public = urlsplit(settings.public_url).hostname if settings.public_url else None
    return (
        not is_loopback(settings.bind_host)
        or any(not is_loopback(urlsplit(f"//{name}").hostname or name) for name in settings.allowed_hosts)
        or (public is not None and not is_loopback(public))
    )


def default_mode(settings: Settings) -> SandboxMode:
    return "required" if exposed(settings) else "auto"


def sandbox_mode(repo: RepoConfig, settings: Settings) -> SandboxMode:
    return repo.sandbox or default_mode(settings)


#: Where common tools keep the server user's own credentials (relative to its home folder). A test run
#: needs none of them (it has no network by default), and a user that runs other tools may have them.
HOME_CREDENTIALS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".config/gh",
    ".config/hub",
    ".docker",
    ".kube",
    ".git-credentials",
    ".netrc",
    ".pgpass",
    ".pypirc",
    ".npmrc",
    ".cargo/credentials.toml",
)


def hidden_paths(settings: Settings, *, home: Path | None = None) -> tuple[Path, ...]:
    """What a test run must not see: HEALER_HOME (database, caches, worktrees, forge), the config file,
    a SQLite database kept elsewhere with its journal files, and the credentials other tools keep in the
    user's ``home``. The workspace is added by the fixer; paths that do not exist are skipped there."""
    paths = [settings.home, settings.config_path]
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        paths += [database, *(database.with_name(database.name + tail) for tail in ("-wal", "-shm", "-journal"))]
    user = home if home is not None else Path.home()
    paths += [user / name for name in HOME_CREDENTIALS]
    return tuple(paths)


def log_availability(settings: Settings, config: HealerConfig, *, bwrap: str = BWRAP) -> None:
    """One line at start: whether test runs are sandboxed, and what to do when they cannot be."""
    program = bwrap_path(bwrap)
    modes = {name: sandbox_mode(repo, settings) for name, repo in config.repos.items()}
    off = sorted(name for name, mode in modes.items() if mode == "off")
    unsandboxed = f"; sandbox = off for {', '.join(off)}" if off else ""
    if program is not None:
        log.info("test sandbox: bubblewrap at %s; test commands run sandboxed%s", program, unsandboxed)
        return
    required = sorted(name for name, mode in modes.items() if mode == "required")
    consequence = (
        f"repositories with sandbox = required will not run their tests: {', '.join(required)}"
        if required
        else f"test commands run without a sandbox (default sandbox = {default_mode(settings)})"
    )
    log.warning(
        "test sandbox unavailable: bubblewrap (bwrap) is missing or cannot create user namespaces; %s%s. "
        'Install it (apt-get install bubblewrap) or set sandbox = "off" per repository in healer.toml.',
        consequence,
        unsandboxed,
    )
