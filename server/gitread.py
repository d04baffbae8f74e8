"""Read-only git: files, history and blame at a commit, through the git command line.

Reading from commits (not a working tree) means what an agent sees is exactly what a fix will
be applied to, and the user's checkout is never touched. Every argument that reaches git is
guarded: refs never start with "-", and "--" separates pathspecs from options.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from server.errors import GitReadError

_TIMEOUT = 30
_PASSED_ON = ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")


def git_env() -> dict[str, str]:
    """A small environment for git: no GIT_DIR or GIT_* overrides leaking in, never a prompt."""
    env = {key: value for key, value in os.environ.items() if key in _PASSED_ON}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"})
    return env


def git(repo: Path, *args: str, input_bytes: bytes | None = None) -> bytes:
    """Run one read-only git command in ``repo`` and return its stdout."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=input_bytes,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
            env=git_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitReadError(f"git {args[0]} failed in {repo}: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitReadError(
            f"git {args[0]} failed in {repo}: {message[-1] if message else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def safe_ref(ref: str) -> str:
    # A ref starting with "-" would be parsed by git as an option (e.g. --output=...).
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n ") or ".." in ref:
        raise GitReadError(f"refusing the ref {ref!r}: refs must not start with '-' or contain spaces or '..'")
    return ref


def resolve_commit(repo: Path, branch: str) -> str:
    """The commit a branch points at, trying the local branch first, then the remote-tracking one."""
    safe_ref(branch)
    for ref in (f"refs/heads/{branch}", f"refs/remotes/origin/{branch}", branch):
        done = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{ref}^{{commit}}",
            ],
            capture_output=True,
            check=False,
            timeout=_TIMEOUT,
            env=git_env(),
        )
        if done.returncode == 0:
            return done.stdout.decode().strip()
    raise GitReadError(
        f"branch {branch!r} was not found in {repo}; check default_branch for this repository in healer.toml"
    )


@dataclass(frozen=True)
class Tree:
    """Every file path at one commit, with its git mode (120000 marks a symlink)."""

    commit: str
    modes: dict[str, str]
    blobs: dict[str, str]

    @property
    def paths(self) -> list[str]:
        return list(self.modes)


@lru_cache(maxsize=32)
def _tree(repo: str, commit: str) -> Tree:
    out = git(Path(repo), "ls-tree", "-r", "-z", "--full-tree", commit)
    modes: dict[str, str] = {}
    blobs: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, path_bytes = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split(" ")
        if kind != "blob":
            continue
        path = path_bytes.decode(errors="surrogateescape")
        modes[path] = mode
        blobs[path] = sha
    return Tree(commit=commit, modes=modes, blobs=blobs)


def tree(repo: Path, commit: str) -> Tree:
    return _tree(str(repo), commit)


def read_blob(repo: Path, sha: str) -> bytes:
    return git(repo, "cat-file", "blob", sha)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str
    date: str
    subject: str


def recent_commits(repo: Path, commit: str, path: str, limit: int = 5) -> list[CommitInfo]:
    out = git(repo, "log", f"-n{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s", safe_ref(commit), "--", path)
    commits = []
    for line in out.decode(errors="replace").splitlines():
        sha, author, date, subject = [*line.split("\x1f"), "", "", ""][:4]
        commits.append(CommitInfo(sha=sha, author=author, date=date, subject=subject))
    return commits


@dataclass(frozen=True)
class BlameLine:
    line: int
    sha: str
    author: str
    summary: str


def blame(repo: Path, commit: str, path: str, start: int, end: int) -> list[BlameLine]:
    out = git(repo, "blame", "--porcelain", f"-L{start},{end}", safe_ref(commit), "--", path)
    lines: list[BlameLine] = []
    info: dict[str, dict[str, str]] = {}
    current_sha = ""
    current_line = 0
    for raw in out.decode(errors="replace").splitlines():
        if raw.startswith("\t"):
            meta = info.get(current_sha, {})
            lines.append(
                BlameLine(
                    line=current_line,
                    sha=current_sha[:12],
                    author=meta.get("author", ""),
                    summary=meta.get("summary", ""),
                )
            )
            continue
        parts = raw.split(" ")
        if len(parts) >= 3 and len(parts[0]) == 40 and parts[1].isdigit():
            current_sha = parts[0]
            current_line = int(parts[2])
            info.setdefault(current_sha, {})
        elif parts[0] in ("author", "summary"):
            info.setdefault(current_sha, {})[parts[0]] = raw.partition(" ")[2]
    return lines
