"""The workspace: a cached bare clone per repository and a throwaway worktree per attempt.

The cache is fetched before every attempt and is only ever written by fetch: attempts work in
a detached worktree, commit there, and push ``HEAD`` to the forge, so no branch is created in
the cache and nothing is left behind when an attempt fails. The repository a spec points at
(a user's own clone) is only read from.
"""

import contextlib
import fcntl
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fixer import gitcmd, owner
from fixer.errors import WorkspaceError
from fixer.models import RepoSpec

_INCIDENT_ID = re.compile(r"^INC-\d{8}-\d{4,}$")

#: Every branch the bot pushes starts with this; the incident id follows it.
BRANCH_PREFIX = "healer/"


def branch_for(incident_id: str) -> str:
    if not _INCIDENT_ID.match(incident_id):
        raise WorkspaceError(f"refusing incident id {incident_id!r}: expected INC-YYYYMMDD-NNNN")
    return f"{BRANCH_PREFIX}{incident_id}"


@dataclass(frozen=True)
class Base:
    """What an attempt starts from."""

    commit: str  # the default branch's commit at the source
    head: str  # where the change is applied: the PR branch if it exists, else ``commit``
    branch_exists: bool


def same_host(a: str, b: str) -> bool:
    """Whether two http(s) URLs are on the same host (and port): credentials for one may go to the other."""
    first, second = urlsplit(a), urlsplit(b)
    return first.scheme in ("http", "https") and (first.scheme, first.hostname, first.port) == (
        second.scheme,
        second.hostname,
        second.port,
    )


def _secrets_in(env: dict[str, str]) -> list[str]:
    return [value for key, value in env.items() if key.startswith("GIT_CONFIG_VALUE")]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._configured: dict[Path, dict[str, tuple[str, str]]] = {}

    def cache_dir(self, spec: RepoSpec) -> Path:
        return self.root / gitcmd.safe_ref(spec.name) / "cache.git"

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """An advisory file lock under ``locks/``, held across processes while the block runs."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        with (locks / f"{name}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def incident_lock(self, incident_id: str) -> contextlib.AbstractContextManager[None]:
        """One attempt per incident at a time, across processes."""
        return self._lock(branch_for(incident_id).replace("/", "_"))

    def repo_lock(self, spec: RepoSpec) -> contextlib.AbstractContextManager[None]:
        """One writer of a repository's cache at a time, across processes (creating it, its remotes, fetches)."""
        return self._lock(f"repo-{gitcmd.safe_ref(spec.name)}")

    def source(self, spec: RepoSpec) -> str:
        return str(spec.path) if spec.path is not None else str(spec.url)

    def sync(self, spec: RepoSpec, forge_url: str, auth_env: dict[str, str], secrets: list[str]) -> Path:
        """Create or fetch the cache: the default branch from the source, bot branches from the forge."""
        with self.repo_lock(spec):
            return self._sync(spec, forge_url, auth_env, secrets)

    def _sync(self, spec: RepoSpec, forge_url: str, auth_env: dict[str, str], secrets: list[str]) -> Path:
        cache = self.cache_dir(spec)
        if not (cache / "HEAD").exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            staging = cache.parent / f".cache-{uuid.uuid4().hex}"
            gitcmd.run(cache.parent, "init", "--quiet", "--bare", str(staging))
            staging.rename(cache)
        branch = gitcmd.safe_ref(spec.default_branch)
        source = self.source(spec)
        self._remotes(
            cache,
            {
                "origin": (source, f"+refs/heads/{branch}:refs/remotes/origin/{branch}"),
                "forge": (forge_url, f"+refs/heads/{BRANCH_PREFIX}*:refs/remotes/forge/{BRANCH_PREFIX}*"),
            },
        )
        # The forge's credentials go only where the forge is: with the source on another HTTP host,
        # the two fetches run apart and the source's without them.
        separate = source.startswith(("http://", "https://")) and not same_host(source, forge_url)
        # Together, the two fetches run side by side (--jobs): each mostly waits on its remote.
        remotes = [["origin"], ["forge"]] if separate else [["--multiple", "--jobs=2", "origin", "forge"]]
        for names in remotes:
            gitcmd.run(
                cache,
                "fetch",
                "--quiet",
                "--no-tags",
                "--prune",
                *names,
                env=None if names == ["origin"] else auth_env,
                timeout=600,
                secrets=secrets,
            )
        return cache

    def _remotes(self, cache: Path, wanted: dict[str, tuple[str, str]]) -> None:
        """Point the cache's remotes at their URLs (never with credentials) and refspecs, once per process."""
        if self._configured.get(cache) == wanted:
            return
        for name, (url, refspec) in wanted.items():
            existing = gitcmd.run(cache, "remote", "get-url", name, check=False)
            if existing.returncode != 0:
                gitcmd.run(cache, "remote", "add", "--", name, url)
            elif existing.stdout.decode().strip() != url:
                gitcmd.run(cache, "remote", "set-url", "--", name, url)
            gitcmd.run(cache, "config", "--replace-all", f"remote.{name}.fetch", refspec)
        self._configured[cache] = wanted

    def ensure_origin(
        self, spec: RepoSpec, *, max_age_seconds: float = 30, auth: tuple[str, dict[str, str]] | None = None
    ) -> Path:
        """The cache with the source's default branch fetched (at most every ``max_age_seconds``), for reading.

        ``auth`` is the forge's URL and git credentials: used only when the source is on the same host.
        """
        cache = self.cache_dir(spec)
        stamp = cache / "healer-fetched"
        fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < max_age_seconds
        if fresh:
            return cache
        with self.repo_lock(spec):  # the same cache sync() writes, maybe in another process
            if not (cache / "HEAD").exists():
                cache.parent.mkdir(parents=True, exist_ok=True)
                staging = cache.parent / f".cache-{uuid.uuid4().hex}"
                gitcmd.run(cache.parent, "init", "--quiet", "--bare", str(staging))
                staging.rename(cache)
            self._set_remote(cache, "origin", self.source(spec))
            branch = gitcmd.safe_ref(spec.default_branch)
            gitcmd.run(
                cache,
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
                timeout=600,
                env=auth[1] if auth is not None and same_host(self.source(spec), auth[0]) else None,
                secrets=_secrets_in(auth[1]) if auth is not None else (),
            )
            stamp.touch()
            return cache

    def _same(self, spec: RepoSpec, forge_url: str) -> bool:
        return self.source(spec) == forge_url

    def _set_remote(self, cache: Path, name: str, url: str) -> None:
        # The URL goes to .git/config, so it must never carry credentials (forges give clean URLs).
        existing = gitcmd.run(cache, "remote", "get-url", name, check=False)
        if existing.returncode != 0:
            gitcmd.run(cache, "remote", "add", "--", name, url)
        elif existing.stdout.decode().strip() != url:
            gitcmd.run(cache, "remote", "set-url", "--", name, url)

    def base(self, cache: Path, spec: RepoSpec, incident_id: str) -> Base:
        default = f"refs/remotes/origin/{gitcmd.safe_ref(spec.default_branch)}"
        bot = f"refs/remotes/forge/{branch_for(incident_id)}"
        listed = gitcmd.out(cache, "for-each-ref", "--format=%(refname) %(objectname)", default, bot)
        refs = dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)
        if default not in refs:
            raise WorkspaceError(f"branch {spec.default_branch!r} was not found in {self.source(spec)}")
        commit = refs[default]
        if bot in refs:
            return Base(commit=commit, head=refs[bot], branch_exists=True)
        return Base(commit=commit, head=commit, branch_exists=False)

    @contextlib.contextmanager
    def worktree(self, cache: Path, commit: str) -> Iterator[Path]:
        """A detached worktree at ``commit``, removed afterwards whatever happens."""
        self.root.mkdir(parents=True, exist_ok=True)
        # Named after this process, so a restart can tell the attempts of a process that died.
        parent = Path(tempfile.mkdtemp(prefix=f"attempt-{owner.token()}-", dir=self.root))
        path = parent / "work"
        try:
            gitcmd.run(cache, "worktree", "add", "--quiet", "--detach", str(path), commit)
            yield path
        finally:
            removed = gitcmd.run(cache, "worktree", "remove", "--force", str(path), check=False)
            shutil.rmtree(parent, ignore_errors=True)
            if removed.returncode != 0:
                gitcmd.run(cache, "worktree", "prune", check=False)

    def sweep_stale(self) -> list[Path]:
        """Remove the attempt directories of processes that are gone (a crash leaves them behind),
        then let each cache forget their worktrees. Returns what was removed."""
        if not self.root.is_dir():
            return []
        removed = [path for path in self.root.glob("attempt-*") if path.is_dir() and owner.token_is_gone(path.name)]
        caches = list(self.root.glob("*/cache.git")) if removed else []
        for path in removed:
            for cache in caches:  # --force twice: a worktree left locked by its dead process goes too
                gitcmd.run(cache, "worktree", "remove", "--force", "--force", str(path / "work"), check=False)
            shutil.rmtree(path, ignore_errors=True)
        for cache in caches:
            gitcmd.run(cache, "worktree", "prune", check=False)
        return removed

    def authors_since(self, cache: Path, base: str, head: str) -> list[str]:
        """Author and committer emails of the commits on ``head`` that ``base`` does not have."""
        text = gitcmd.out(cache, "log", "--format=%ae%n%ce", f"{base}..{head}", "--")
        return list(dict.fromkeys(line for line in text.splitlines() if line))

    def forge_base(self, cache: Path, spec: RepoSpec, forge_url: str, auth_env: dict[str, str]) -> str:
        """The forge's default branch (where merges land), fetched into the cache; its commit."""
        branch = gitcmd.safe_ref(spec.default_branch)
        if self._same(spec, forge_url):
            return gitcmd.out(cache, "rev-parse", "--verify", "--end-of-options", f"refs/remotes/origin/{branch}")
        with self.repo_lock(spec):
            gitcmd.run(
                cache,
                "fetch",
                "--quiet",
                "--no-tags",
                "forge",
                f"+refs/heads/{branch}:refs/remotes/forge-base/{branch}",
                env=auth_env,
                timeout=600,
                secrets=_secrets_in(auth_env),
            )
        return gitcmd.out(cache, "rev-parse", "--verify", "--end-of-options", f"refs/remotes/forge-base/{branch}")

    def contains(
        self, spec: RepoSpec, forge_url: str, auth_env: dict[str, str], commit: str, descendant: str
    ) -> bool | None:
        """Whether ``descendant`` (a deployed sha) comes after ``commit`` (a merge), read in the cache.

        The cache is synced first, and the forge's default branch fetched too (a merge lands there);
        a sha still missing is asked of the forge by name. None: the sha is in neither repository."""
        gitcmd.safe_sha(commit)
        gitcmd.safe_sha(descendant)
        cache = self.sync(spec, forge_url, auth_env, _secrets_in(auth_env))
        self.forge_base(cache, spec, forge_url, auth_env)
        with self.repo_lock(spec):
            for name in (commit, descendant):
                if gitcmd.run(cache, "cat-file", "-e", f"{name}^{{commit}}", check=False).returncode != 0:
                    # Servers that allow fetching a reachable commit by name (GitHub does) answer this.
                    gitcmd.run(
                        cache, "fetch", "--quiet", "--no-tags", "forge", name, env=auth_env, check=False, timeout=600
                    )
            return gitcmd.contains(cache, commit, descendant)
