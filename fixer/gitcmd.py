"""Running git: one place that builds the environment, times commands out and keeps secrets out of errors."""

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from fixer.errors import WorkspaceError

_PASSED_ON = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT", "LANG")
_SECRETISH = re.compile(
    r"(?i)(authorization:\s*\w+\s+)\S+|(x-access-token:)[^@\s]+|(gh[pousr]_)[A-Za-z0-9]{20,}|(github_pat_)\w{20,}"
)


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` with tokens and Authorization values blanked, for messages and logs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return _SECRETISH.sub(lambda m: (m.group(1) or m.group(2) or m.group(3) or m.group(4) or "") + "[REDACTED]", text)


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A small, predictable environment: no inherited GIT_* overrides, no prompts, no system config."""
    env = {key: value for key, value in os.environ.items() if key in _PASSED_ON}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            # Every path the fixer hands git is a file name, never a pattern: `git add -- '*'` must not
            # stage the whole tree because an agent named a file "*".
            "GIT_LITERAL_PATHSPECS": "1",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": "devops-healer",
            "GIT_AUTHOR_EMAIL": "devops-healer@users.noreply.invalid",
            "GIT_COMMITTER_NAME": "devops-healer",
            "GIT_COMMITTER_EMAIL": "devops-healer@users.noreply.invalid",
        }
    )
    if extra:
        env.update(extra)
    return env


def safe_ref(name: str) -> str:
    """A branch or ref name as given, refused if git could read it as an option or it is malformed."""
    # A name starting with "-" would be parsed as an option (e.g. --upload-pack=...).
    if (
        not name
        or name.startswith("-")
        or ".." in name
        or any(c in name for c in " \t\n\0~^:?*[\\")
        or name.endswith((".lock", "/"))
    ):
        raise WorkspaceError(f"refusing the git ref name {name!r}")
    return name


def run(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    timeout: float = 120,
    check: bool = True,
    secrets: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """``git -C repo ARGS``; WorkspaceError (scrubbed of secrets) when it fails and ``check``."""
    argv = ["git", "-C", str(repo), *args]
    try:
        done = subprocess.run(
            argv, input=input_bytes, capture_output=True, timeout=timeout, check=False, env=git_env(env)
        )
    except subprocess.TimeoutExpired as exc:
        raise WorkspaceError(f"git {args[0]} timed out after {timeout:.0f}s in {repo}") from exc
    except OSError as exc:
        raise WorkspaceError(f"git could not run: {exc.strerror}") from exc
    if check and done.returncode != 0:
        message = scrub(done.stderr.decode(errors="replace").strip(), secrets)
        raise WorkspaceError(f"git {args[0]} failed: {message.splitlines()[-1] if message else done.returncode}")
    return done


def out(repo: Path, *args: str, env: Mapping[str, str] | None = None, secrets: Sequence[str] = ()) -> str:
    return run(repo, *args, env=env, secrets=secrets).stdout.decode(errors="replace").strip()


_OBJECT_NAME = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def head_commit(tree: Path) -> str:
    """The commit a worktree's detached HEAD names, read from its HEAD file; rev-parse otherwise.

    A linked worktree's ``.git`` is a file naming its admin folder, whose ``HEAD`` holds the
    object name while HEAD is detached (the fixer's worktrees always are): one file read
    instead of a git process. Anything else (a branch checked out, a layout git may change)
    is left to ``git rev-parse``.
    """
    try:
        pointer = (tree / ".git").read_text(encoding="utf-8").strip()
        if pointer.startswith("gitdir: "):
            admin = Path(pointer.removeprefix("gitdir: "))
            head = (admin if admin.is_absolute() else tree / admin) / "HEAD"
            name = head.read_text(encoding="utf-8").strip()
            if _OBJECT_NAME.fullmatch(name):
                return name
    except OSError:
        pass
    return out(tree, "rev-parse", "--verify", "HEAD")


def safe_sha(name: str) -> str:
    """A full commit object name (40 or 64 lower-case hex digits), refused otherwise: never a ref or an option."""
    if not _OBJECT_NAME.fullmatch(name):
        raise WorkspaceError(f"refusing {name[:80]!r}: expected a full commit sha (40 hex digits)")
    return name


def contains(repo: Path, commit: str, descendant: str) -> bool | None:
    """Whether ``descendant`` is ``commit`` or comes after it; None when either is not in ``repo``."""
    for name in (safe_sha(commit), safe_sha(descendant)):
        if run(repo, "cat-file", "-e", f"{name}^{{commit}}", check=False).returncode != 0:
            return None
    found = run(repo, "merge-base", "--is-ancestor", commit, descendant, check=False)
    if found.returncode not in (0, 1):
        raise WorkspaceError(f"git merge-base failed: {found.stderr.decode(errors='replace').strip()[-300:]}")
    return found.returncode == 0
