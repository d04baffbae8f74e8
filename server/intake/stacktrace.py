"""Stack traces as text (Python, Java, JavaScript, Go) parsed into frames, and frames mapped to repo files."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from server.models import StackFrame

_PYTHON = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_JAVA = re.compile(r"^\s*at (?P<func>[\w$.<>/]+)\((?P<file>[^:()]+)(?::(?P<line>\d+))?\)")
_JS = re.compile(r"^\s*at (?:(?P<func>[^\s(]+) \()?(?P<file>(?:file://)?[^\s():]+):(?P<line>\d+)(?::\d+)?\)?\s*$")
_GO = re.compile(r"^\s+(?P<file>/?[^\s:]+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")
_GO_FUNC = re.compile(r"^(?P<func>[\w./*()-]+)\(.*\)\s*$")

_MAX_FRAMES = 200


def parse_stack_trace(text: str) -> list[StackFrame]:
    """Frames found in ``text``, outermost first as the runtime printed them."""
    frames: list[StackFrame] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if len(frames) >= _MAX_FRAMES:
            break
        if match := _PYTHON.match(line):
            following = lines[index + 1].strip() if index + 1 < len(lines) else ""
            context = following if following and not following.startswith(("File ", "Traceback")) else None
            frames.append(
                StackFrame(
                    filename=match["file"],
                    lineno=int(match["line"]),
                    function=match["func"],
                    context_line=context,
                )
            )
        elif match := _JAVA.match(line):
            frames.append(
                StackFrame(
                    filename=match["file"],
                    lineno=int(match["line"]) if match["line"] else None,
                    function=match["func"],
                )
            )
        elif match := _JS.match(line):
            frames.append(
                StackFrame(
                    filename=match["file"].removeprefix("file://"),
                    lineno=int(match["line"]),
                    function=match["func"],
                )
            )
        elif match := _GO.match(line):
            previous = lines[index - 1].strip() if index > 0 else ""
            func = _GO_FUNC.match(previous)
            frames.append(
                StackFrame(filename=match["file"], lineno=int(match["line"]), function=func["func"] if func else None)
            )
    return frames


def _is_library(path: str) -> bool:
    return any(
        marker in path for marker in ("site-packages/", "dist-packages/", "node_modules/", "/lib/python3", "<frozen")
    )


def map_to_repo(filename: str, repo_files: Iterable[str], by_name: dict[str, list[str]] | None = None) -> str | None:
    """The repository path a frame's file refers to: the longest matching path suffix, if any.

    Frames carry paths from where the code ran (``/app/orders/db.py``, ``orders/db.py``,
    ``com/acme/Pool.java``); the repository lists ``orders/db.py``. Library frames never map.
    """
    if not filename or _is_library(filename):
        return None
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    parts = tuple(part for part in parts if part not in ("/", ".", ""))
    if not parts:
        return None
    index = by_name if by_name is not None else index_by_name(repo_files)
    candidates = index.get(parts[-1], [])
    best: tuple[int, str] | None = None
    for candidate in candidates:
        candidate_parts = PurePosixPath(candidate).parts
        common = 0
        while (
            common < len(parts) and common < len(candidate_parts) and parts[-1 - common] == candidate_parts[-1 - common]
        ):
            common += 1
        if best is None or common > best[0]:
            best = (common, candidate)
    if best is None:
        return None
    # A bare file name (``db.py``) matching one of several files is a guess; refuse it.
    if best[0] == 1 and len(candidates) > 1:
        return None
    return best[1]


def index_by_name(repo_files: Iterable[str]) -> dict[str, list[str]]:
    """Repository paths grouped by their last component, for fast suffix matching."""
    index: dict[str, list[str]] = {}
    for path in repo_files:
        index.setdefault(PurePosixPath(path).name, []).append(path)
    return index
