"""`healer doctor`'s checks: what the configuration needs in order to work, found before an agent trips on it.

The cheap checks (local paths and branches, test commands, secrets, the sandbox) also run when
`healer serve` starts, as warnings; the slow ones (remote repositories, the GitHub token, the
database) only in `healer doctor`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from fixer import gitcmd
from fixer.errors import FixerError
from fixer.verify import resolve_command, test_environment
from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


def sandbox_available() -> bool:
    """Whether test runs can be sandboxed (bubblewrap)."""
    return shutil.which("bwrap") is not None


def repository(repo: RepoConfig, *, remote: bool) -> list[Finding]:
    """The repository is there with its default branch, and its test command can start."""
    name = f"repository {repo.name}"
    found: list[Finding] = []
    if repo.path is not None:
        if not repo.path.is_dir():
            return [Finding(name, False, f"path {repo.path} does not exist; fix `path` in [repos.{repo.name}]")]
        branch = gitcmd.run(
            repo.path, "rev-parse", "--verify", "--quiet", f"refs/heads/{repo.default_branch}", check=False
        )
        if branch.returncode != 0:
            heads = gitcmd.run(repo.path, "for-each-ref", "--format=%(refname:short)", "refs/heads", check=False)
            have = ", ".join(heads.stdout.decode(errors="replace").split()) or "none (is it a git repository?)"
            found.append(
                Finding(
                    name,
                    False,
                    f"{repo.path} has no branch {repo.default_branch!r} (branches: {have}); set `default_branch` in "
                    f"[repos.{repo.name}]",
                )
            )
        else:
            found.append(Finding(name, True, f"{repo.path}, branch {repo.default_branch}"))
    elif remote and repo.url is not None:
        try:
            listed = gitcmd.out(Path.cwd(), "ls-remote", "--heads", "--", repo.url, repo.default_branch)
        except FixerError as exc:
            found.append(Finding(name, False, f"{repo.url} cannot be reached: {exc.message}"))
        else:
            ok = bool(listed)
            what = f"branch {repo.default_branch}" if ok else f"no branch {repo.default_branch!r}"
            found.append(Finding(name, ok, f"{repo.url}, {what}"))
    if repo.test_command and repo.path is not None and repo.path.is_dir():
        try:
            resolve_command(repo.test_command, repo.path, test_environment())
        except FixerError as exc:
            found.append(Finding(f"{name} test command", False, exc.message.split(". Verification")[0]))
        else:
            found.append(Finding(f"{name} test command", True, repo.test_command))
    return found


def uses_github(config: HealerConfig) -> bool:
    return any(repo.forge == "github" for repo in config.repos.values())


def webhook_secret(config: HealerConfig, settings: Settings) -> Finding | None:
    if not uses_github(config):
        return None
    if settings.github_webhook_secret is None:
        return Finding(
            "webhook secret", False, "HEALER_GITHUB_WEBHOOK_SECRET is not set: GitHub's review events are refused"
        )
    return Finding("webhook secret", True, "set")


def sandbox() -> Finding:
    if sandbox_available():
        return Finding("sandbox", True, "bubblewrap (bwrap) is installed")
    return Finding("sandbox", False, "bubblewrap (bwrap) is not on the PATH: test runs cannot be sandboxed")


def github_token(config: HealerConfig, settings: Settings, *, client: httpx.Client | None = None) -> Finding | None:
    """A classic token's scopes (GitHub's X-OAuth-Scopes header) must include `repo` to push and open PRs."""
    if not uses_github(config) or settings.github_app_id is not None:
        return None
    if settings.github_token is None:
        return Finding("GitHub token", False, "HEALER_GITHUB_TOKEN (or GITHUB_TOKEN) is not set")
    http = client or httpx.Client(timeout=15)
    try:
        answer = http.get(
            f"{settings.github_url.rstrip('/')}/user",
            headers={"Authorization": f"token {settings.github_token.get_secret_value()}"},
        )
    except httpx.HTTPError as exc:
        return Finding("GitHub token", False, f"{settings.github_url} cannot be reached: {type(exc).__name__}")
    finally:
        if client is None:
            http.close()
    if answer.status_code == 401:
        return Finding("GitHub token", False, "GitHub refuses the token (401): it is wrong or expired")
    if answer.status_code != 200:
        return Finding("GitHub token", False, f"GitHub answered {answer.status_code} to GET /user")
    header = answer.headers.get("X-OAuth-Scopes")
    if header is None:  # a fine-grained token or an App's: permissions are per repository, not scopes
        return Finding("GitHub token", True, "accepted (fine-grained: check its repository permissions on GitHub)")
    scopes = sorted(scope.strip() for scope in header.split(",") if scope.strip())
    if "repo" not in scopes and "public_repo" not in scopes:
        return Finding(
            "GitHub token", False, f"scopes {', '.join(scopes) or '(none)'}; pushing and opening PRs needs `repo`"
        )
    return Finding("GitHub token", True, f"scopes {', '.join(scopes)}")


def database(settings: Settings) -> Finding:
    from server.errors import HealerError
    from server.store import Store

    try:
        store = Store.from_settings(settings)
    except HealerError as exc:
        return Finding("database", False, exc.message)
    try:
        with store.write():
            pass
    except Exception as exc:
        return Finding("database", False, f"not writable: {type(exc).__name__}: {exc}")
    finally:
        store.close()
    return Finding("database", True, "writable")


def cheap(config: HealerConfig, settings: Settings) -> list[Finding]:
    """What `healer serve` checks at start: local files only, no network."""
    found = [finding for repo in config.repos.values() for finding in repository(repo, remote=False)]
    found += [finding for finding in (webhook_secret(config, settings), sandbox()) if finding is not None]
    return found


def everything(config: HealerConfig, settings: Settings) -> list[Finding]:
    found = [finding for repo in config.repos.values() for finding in repository(repo, remote=True)]
    extra = (webhook_secret(config, settings), github_token(config, settings), sandbox(), database(settings))
    return found + [finding for finding in extra if finding is not None]
