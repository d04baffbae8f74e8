"""Repository context for an agent: the code around a failure, its history, blame and tests.

Paths are guarded here, whichever face asks: relative to the repository root, no "..", nothing
under .git/, and symlinks followed only while they stay inside the repository.
"""

import difflib
import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from fixer import gitread
from fixer.errors import FixerError, PathOutsideRepo
from server.common.untrusted import fence_frames
from server.config import RepoConfig
from server.errors import FileNotInRepo, HealerError, RepoUnavailable
from server.intake.stacktrace import index_by_name, map_to_repo
from server.models import Incident, StackFrame

if TYPE_CHECKING:
    from fixer.models import RepoSpec

WINDOW = 25
WHOLE_FILE_LINES = 120
MAX_LINE_CHARS = 400
_SYMLINK = "120000"
_MAX_LINKS = 8


class CommitRef(BaseModel):
    sha: str
    author: str
    date: str
    subject: str


class BlameRange(BaseModel):
    start_line: int
    end_line: int
    commit: str
    author: str
    summary: str


class RepositoryContext(BaseModel):
    """What an agent needs to change one file safely."""

    repo: str
    default_branch: str
    commit: str = Field(description="The commit the content was read at.")
    branch: str | None = Field(
        default=None,
        description="Set when the content is the incident's pull request branch (a follow-up round), not the "
        "default branch: write the follow-up change against this.",
    )
    test_command: str | None
    file_path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    total_lines: int | None = None
    content: str | None = Field(default=None, description="The window of the file, each line prefixed 'N| '.")
    recent_commits: list[CommitRef] = Field(default_factory=list)
    blame: list[BlameRange] = Field(default_factory=list)
    related_tests: list[str] = Field(default_factory=list)
    stack_frames: list[StackFrame] = Field(default_factory=list)
    note: str | None = None


#: A forge's clone URL and the git environment carrying its credentials.
SourceAuth = tuple[str, dict[str, str]]


def local_checkout(repo: RepoConfig, cache_root: Path, auth: SourceAuth | None = None) -> Path:
    """Where to read a repository: its configured local clone, or the fixer's cached clone of its URL.

    A private repository on the forge's host is fetched with the forge's credentials (``auth``).
    """
    if repo.path is not None:
        if not (repo.path / ".git").exists() and not (repo.path / "HEAD").exists():
            raise RepoUnavailable(
                f"repository {repo.name!r}: {repo.path} is not a git repository; fix `path` in healer.toml"
            )
        return repo.path
    from fixer.models import RepoSpec
    from fixer.workspace import Workspace

    try:
        spec = RepoSpec(name=repo.name, url=repo.url, default_branch=repo.default_branch)
        return Workspace(cache_root).ensure_origin(spec, auth=auth)
    except FixerError as exc:
        raise RepoUnavailable(f"repository {repo.name!r} could not be fetched from {repo.url}: {exc.message}") from exc


def check_path(path: str) -> str:
    """A normalized repository-relative path, or PathOutsideRepo saying why not."""
    if not path or "\0" in path:
        raise PathOutsideRepo(path, "it is empty or contains a NUL byte", reading=True)
    candidate = path.replace("\\", "/")
    if candidate.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", candidate):
        raise PathOutsideRepo(path, "absolute paths are not accepted", reading=True)
    parts = [part for part in candidate.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathOutsideRepo(path, "'..' would leave the repository", reading=True)
    if any(part.lower() == ".git" for part in parts):
        raise PathOutsideRepo(path, "nothing under .git/ may be read or written", reading=True)
    if not parts:
        raise PathOutsideRepo(path, "it names the repository root, not a file", reading=True)
    return "/".join(parts)


def resolve_in_tree(path: str, tree: gitread.Tree, repo_dir: Path, repo_name: str) -> str:
    """Follow symlinks inside the tree; refuse one that points outside the repository."""
    current = check_path(path)
    for _ in range(_MAX_LINKS):
        parts = current.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if tree.modes.get(prefix) == _SYMLINK:
                target = gitread.read_blob(repo_dir, tree.blobs[prefix]).decode(errors="replace")
                if target.startswith("/"):
                    raise PathOutsideRepo(
                        path, f"{prefix} is a symlink to an absolute path outside the repository", reading=True
                    )
                joined = posixpath.normpath(posixpath.join(posixpath.dirname(prefix), target))
                if joined == ".." or joined.startswith("../"):
                    raise PathOutsideRepo(path, f"{prefix} is a symlink that leaves the repository", reading=True)
                rest = parts[depth:]
                current = check_path("/".join([joined, *rest]))
                break
        else:
            if current not in tree.modes:
                suggestions = difflib.get_close_matches(current, tree.paths, n=3, cutoff=0.6)
                if not suggestions:
                    name = PurePosixPath(current).name
                    suggestions = [p for p in tree.paths if PurePosixPath(p).name == name][:3]
                raise FileNotInRepo(current, repo_name, suggestions)
            return current
    raise PathOutsideRepo(path, "too many symlinks", reading=True)


_TEST_DIRS = ("tests/", "test/", "spec/", "__tests__/")


def related_tests(path: str, tree: gitread.Tree, limit: int = 10) -> list[str]:
    """Test files that by name or place belong to ``path``."""
    stem = PurePosixPath(path).stem
    names = {
        f"test_{stem}.py",
        f"{stem}_test.py",
        f"{stem}_test.go",
        f"{stem}.test.ts",
        f"{stem}.test.js",
        f"{stem}.spec.ts",
        f"{stem}.spec.js",
        f"{stem[:1].upper()}{stem[1:]}Test.java",
        f"{stem}_spec.rb",
    }
    found = [p for p in tree.paths if PurePosixPath(p).name in names]
    if len(found) < limit:
        found += [
            p
            for p in tree.paths
            if p not in found and stem in PurePosixPath(p).name and (p.startswith(_TEST_DIRS) or "/tests/" in p)
        ]
    return sorted(found)[:limit]


def map_frames(frames: list[StackFrame], tree: gitread.Tree) -> list[StackFrame]:
    index = index_by_name(tree.paths)
    return [frame.model_copy(update={"repo_path": map_to_repo(frame.filename, tree.paths, index)}) for frame in frames]


def frames_in_repo(
    repo: RepoConfig, frames: list[StackFrame], cache_root: Path, auth: SourceAuth | None = None
) -> list[StackFrame]:
    """Stack frames with ``repo_path`` filled where the repository has the file; unchanged if unreadable."""
    try:
        checkout = local_checkout(repo, cache_root, auth)
        commit = gitread.resolve_commit(checkout, repo.default_branch)
        return map_frames(frames, gitread.tree(checkout, commit))
    except (HealerError, FixerError):
        return frames


def _focus(incident: Incident, frames: list[StackFrame]) -> tuple[str | None, int | None]:
    """The file and line most likely at fault: the innermost frame in the repo, else an affected file."""
    for frame in reversed(frames):
        if frame.repo_path and frame.in_app is not False:
            return frame.repo_path, frame.lineno
    if incident.affected_files:
        return incident.affected_files[0], None
    return None, None


#: States in which the incident's pull request is still open, so a new change goes on top of its branch.
_FOLLOW_UP = frozenset({"changes_requested", "claimed", "fixing", "pr_open", "in_review", "approved"})


def _pull_request_head(repo: RepoConfig, cache_root: Path, incident: Incident | None) -> tuple[Path, str, str] | None:
    """The bot branch's last pushed commit, as the fixer's cache has it, for a follow-up round."""
    pr = incident.pull_request if incident is not None else None
    if incident is None or pr is None or not pr.branch or pr.number is None:
        return None
    if incident.status.value not in _FOLLOW_UP:
        return None
    from fixer.workspace import Workspace

    cache = Workspace(cache_root).cache_dir(_spec(repo))
    if not (cache / "HEAD").exists():
        return None
    try:
        return cache, gitread.resolve_commit(cache, f"refs/remotes/forge/{pr.branch}"), pr.branch
    except FixerError:
        return None


def _spec(repo: RepoConfig) -> "RepoSpec":
    from fixer.models import RepoSpec

    return RepoSpec(name=repo.name, path=repo.path, url=repo.url, default_branch=repo.default_branch)


def build_context(
    repo: RepoConfig,
    cache_root: Path,
    *,
    file_path: str | None = None,
    line: int | None = None,
    incident: Incident | None = None,
    auth: SourceAuth | None = None,
) -> RepositoryContext:
    pr_branch = _pull_request_head(repo, cache_root, incident)
    if pr_branch is not None:
        checkout, commit, branch = pr_branch
    else:
        checkout, branch = local_checkout(repo, cache_root, auth), None
        commit = gitread.resolve_commit(checkout, repo.default_branch)
    tree = gitread.tree(checkout, commit)
    context = RepositoryContext(
        repo=repo.name, default_branch=repo.default_branch, commit=commit, branch=branch, test_command=repo.test_command
    )
    if incident is not None:
        mapped = map_frames(incident.stack_frames, tree)
        context.stack_frames = fence_frames(mapped)
        if file_path is None:
            file_path, focus_line = _focus(incident, mapped)
            line = line if line is not None else focus_line
    if file_path is None:
        context.note = (
            "no file_path given and the incident has no frame in this repository; "
            "call again with file_path (a path relative to the repository root)"
        )
        return context
    path = resolve_in_tree(file_path, tree, checkout, repo.name)
    data = gitread.read_blob(checkout, tree.blobs[path])
    context.file_path = path
    context.recent_commits = [CommitRef(**vars(c)) for c in gitread.recent_commits(checkout, commit, path)]
    context.related_tests = related_tests(path, tree)
    if b"\0" in data[:8000]:
        context.note = "binary file: content not shown"
        return context
    lines = data.decode(errors="replace").splitlines()
    context.total_lines = len(lines)
    if not lines:
        context.note = "the file is empty"
        return context
    if line is not None and not 1 <= line <= len(lines):
        context.note = f"line {line} is past the end of the file ({len(lines)} lines); showing the start"
        line = None
    if line is None:
        start, end = 1, min(len(lines), WHOLE_FILE_LINES)
    else:
        start, end = max(1, line - WINDOW), min(len(lines), line + WINDOW)
    width = len(str(end))
    context.start_line, context.end_line = start, end
    context.content = "\n".join(
        f"{n:>{width}}| {text[:MAX_LINE_CHARS]}"
        for n, text in zip(range(start, end + 1), lines[start - 1 : end], strict=True)
    )
    context.blame = _compact_blame(gitread.blame(checkout, commit, path, start, end))
    return context


def _compact_blame(lines: list[gitread.BlameLine]) -> list[BlameRange]:
    ranges: list[BlameRange] = []
    for item in lines:
        if ranges and ranges[-1].commit == item.sha and ranges[-1].end_line == item.line - 1:
            ranges[-1].end_line = item.line
        else:
            ranges.append(
                BlameRange(
                    start_line=item.line,
                    end_line=item.line,
                    commit=item.sha,
                    author=item.author,
                    summary=item.summary,
                )
            )
    return ranges
