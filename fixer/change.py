"""An agent's change, understood before anything is written: which files, which lines, which modes.

A unified diff is parsed for its paths, modes and added lines (for the policy), then checked
against the base commit with ``git apply --check`` on a throwaway index, so a patch that does
not apply is reported with the failing hunk, file, line and current text while the repository
stays untouched. Structured edits are computed in memory against the base files.
"""

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fixer import gitcmd
from fixer.errors import ChangeRefused, EditDoesNotMatch, InvalidChange, PatchDoesNotApply, PathOutsideRepo
from fixer.models import Change

_DIFF_GIT = re.compile(r"^diff --git (?P<a>\S+) (?P<b>\S+)$")
_HUNK = re.compile(r"^@@ -(?P<old>\d+)(?:,\d+)? \+(?P<new>\d+)(?:,\d+)? @@")
_FAILED = re.compile(r"error: patch failed: (?P<path>.+):(?P<line>\d+)")
_NOT_APPLY = re.compile(
    r"error: (?P<path>.+): (?P<why>patch does not apply|does not exist in index|already exists in index"
    r"|does not match index|No such file or directory)"
)
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"
FILE_MODES = frozenset({0o100644, 0o100755})  # the only modes a fix may give a file
# git's parse_mode_line: strtoul(line, 8) (leading C whitespace, a sign, octal digits), then one of
# git's own whitespace characters or the end of the line. "0120000", "120000 " and " 120000" are all
# 120000 to git, so they are to the policy.
_MODE = re.compile(r"[ \t\n\v\f\r]*(?P<sign>[+-]?)(?P<digits>[0-7]+)(?=[ \t\n\r]|$)")
_MODE_LINES = ("new file mode ", "deleted file mode ", "new mode ", "old mode ")


def mode_refused(path: str, mode: int | None) -> PathOutsideRepo:
    """Why a header's mode is refused: only regular files (100644, 100755) may be written."""
    if mode is None:
        return PathOutsideRepo(path, "a mode line git cannot read; write modes as `100644` or `100755`")
    if mode & 0o170000 == 0o120000:
        return PathOutsideRepo(path, "the change would create a symlink")
    if mode & 0o170000 == 0o160000:
        return PathOutsideRepo(path, "the change would create a submodule (gitlink)")
    return PathOutsideRepo(path, f"mode {mode:06o} is not a file mode git writes; use 100644 or 100755")


def git_mode(text: str) -> int | None:
    """A mode as ``git apply`` reads it from a header line's tail; None when git would refuse it."""
    match = _MODE.match(text)
    if match is None:
        return None
    value = int(match["digits"], 8)
    if match["sign"] == "-":
        value = -value
    return value & 0xFFFFFFFF  # strtoul's wrap, kept in git's unsigned int


def _index_modes(line: str) -> list[int | None]:
    """The mode at the end of an ``index <a>..<b> <mode>`` line, which git reads as the old mode
    (and keeps as the new one of a rename or copy); empty when the line carries none."""
    dots = line.find("..")
    rest = line[dots + 2 :] if dots >= 0 else ""
    space = rest.find(" ")
    return [] if space < 0 else [git_mode(rest[space + 1 :])]


@dataclass
class FileChange:
    path: str
    kind: str = "modify"  # modify | create | delete | rename
    old_path: str | None = None
    mode: str | None = None
    modes: list[int | None] = field(default_factory=list)  # every mode a header gives it, as git reads them
    binary: bool = False
    added: list[str] = field(default_factory=list)
    removed: int = 0
    new_content: bytes | None = None  # edits: the whole new file (None when deleted)


@dataclass
class Plan:
    files: list[FileChange]
    diff: str | None  # for diffs: the text to apply

    @property
    def paths(self) -> list[str]:
        out: list[str] = []
        for item in self.files:
            if item.old_path and item.old_path not in out:
                out.append(item.old_path)
            if item.path not in out:
                out.append(item.path)
        return out

    @property
    def lines_added(self) -> int:
        return sum(len(item.added) for item in self.files)

    @property
    def lines_removed(self) -> int:
        return sum(item.removed for item in self.files)


# C0 controls, DEL and C1 controls: a NUL ends the path for git and the filesystem (and cannot pass
# as an argument at all); the others break commands, logs and the review page that show the path.
# Lone surrogates are bytes that are not UTF-8, which neither an edit nor a pull request can carry.
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def check_path(path: str) -> None:
    """Refuse a path that leaves the repository, writes git's own files, or cannot be written as named."""
    if not path:
        raise PathOutsideRepo(path, "the path is empty")
    if bad := _UNWRITABLE.search(path):
        raise PathOutsideRepo(
            path.encode("unicode_escape", errors="backslashreplace").decode(),
            f"the path contains the control character {bad.group()!r} (U+{ord(bad.group()):04X}); "
            "name files with printable characters only",
        )
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        raise PathOutsideRepo(path, "absolute paths are not accepted")
    parts = path.split("/")
    if ".." in parts:
        raise PathOutsideRepo(path, "'..' would leave the repository")
    if any(part.lower() == ".git" for part in parts):
        raise PathOutsideRepo(path, "nothing under .git/ may be written")


def normalize(path: str) -> str:
    """``./a//b`` -> ``a/b``; nothing else changes (the policy refuses "..", absolute paths and .git)."""
    path = path.replace("\\", "/")
    if path.startswith("/"):
        return path  # left absolute, for the policy to refuse
    return "/".join(part for part in path.split("/") if part not in ("", "."))


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(path: str) -> str:
    """A path as git writes it in a diff header: ``"a/caf\\303\\251.py"`` (C-quoted, octal bytes) or plain."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    body, out, index = path[1:-1], bytearray(), 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 == len(body):
            out += char.encode()
            index += 1
        elif body[index + 1] in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[index + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            index += 1 + len(digits.group())
        else:
            out.append(_C_ESCAPES.get(body[index + 1], ord(body[index + 1])))
            index += 2
    return out.decode(errors="surrogateescape")


def _strip(path: str) -> str:
    # Read quoted paths the way git apply does: a policy that read them otherwise could be walked around
    # (".githu\\142/workflows/ci.yml" is .github/workflows/ci.yml to git).
    path = unquote(path.strip())
    if path.startswith(("a/", "b/")):
        path = path[2:]
    return normalize(path)


def parse_diff(text: str) -> list[FileChange]:
    """The files a unified diff touches, with modes, binary markers and added lines."""
    files: list[FileChange] = []
    current: FileChange | None = None
    in_hunk = False
    for line in text.splitlines():
        if match := _DIFF_GIT.match(line):
            current = FileChange(path=_strip(match["b"]), old_path=None)
            files.append(current)
            in_hunk = False
            continue
        if line.startswith("--- ") and not in_hunk:
            old = line[4:].split("\t")[0]
            if current is None or (current.path and files and current.kind == "modify" and current.added):
                current = FileChange(path="")
                files.append(current)
            if old.strip() == "/dev/null":
                current.kind = "create"
            else:
                current.old_path = current.old_path or _strip(old)
            continue
        if line.startswith("+++ ") and not in_hunk and current is not None:
            new = line[4:].split("\t")[0]
            if new.strip() == "/dev/null":
                current.kind = "delete"
                current.path = current.path or (current.old_path or "")
            else:
                current.path = _strip(new)
            continue
        if current is None:
            continue
        if line.startswith(_MODE_LINES):
            prefix = next(prefix for prefix in _MODE_LINES if line.startswith(prefix))
            parsed = git_mode(line[len(prefix) :])
            current.modes.append(parsed)
            if prefix == "new file mode ":
                current.kind = "create"
            elif prefix == "deleted file mode ":
                current.kind = "delete"
            if prefix != "old mode ":
                current.mode = None if parsed is None else f"{parsed:06o}"
            continue
        if line.startswith("index ") and not in_hunk:
            current.modes.extend(_index_modes(line))
            continue
        if line.startswith("rename from "):
            current.kind, current.old_path = "rename", normalize(unquote(line[len("rename from ") :]))
            continue
        if line.startswith("rename to "):
            current.path = normalize(unquote(line[len("rename to ") :]))
            continue
        if line.startswith("GIT binary patch") or (line.startswith("Binary files ") and line.endswith(" differ")):
            current.binary = True
            continue
        if _HUNK.match(line):
            in_hunk = True
            continue
        if in_hunk:
            if line.startswith("+"):
                current.added.append(line[1:])
            elif line.startswith("-"):
                current.removed += 1
            elif line.startswith("diff "):
                in_hunk = False
    for item in files:
        if item.old_path == item.path and item.kind != "rename":
            item.old_path = None
        if item.kind == "delete" and not item.path:
            item.path = item.old_path or ""
    files = [item for item in files if item.path]
    if not files:
        raise InvalidChange(
            "the diff names no files; send a unified diff as `git diff` writes it (with ---/+++ headers and @@ hunks), "
            "or send structured edits instead"
        )
    return files


def _blob(cache: Path, commit: str, path: str) -> bytes | None:
    done = gitcmd.run(cache, "cat-file", "blob", f"{commit}:{path}", check=False)
    return done.stdout if done.returncode == 0 else None


def _excerpt(content: bytes | None, line: int | None, radius: int = 4) -> str:
    if content is None:
        return "(the file does not exist at the base commit)"
    lines = content.decode(errors="replace").splitlines()
    if not lines:
        return "(the file is empty)"
    centre = line or 1
    start, end = max(1, centre - radius), min(len(lines), centre + radius)
    return "\n".join(f"{n:>5}| {lines[n - 1]}" for n in range(start, end + 1))


def _hunk_at(diff: str, path: str, line: int) -> int | None:
    """Which hunk (1-based) of ``path`` in ``diff`` starts at or covers ``line``."""
    index = 0
    in_file = False
    best: int | None = None
    for text in diff.splitlines():
        if text.startswith(("diff --git", "--- ")):
            if text.startswith("diff --git"):
                in_file = _strip(text.split(" ")[-1]) == path or _strip(text.split(" ")[2]) == path
                index = 0
            continue
        if text.startswith("+++ "):
            in_file = in_file or _strip(text[4:].split("\t")[0]) == path
            continue
        match = _HUNK.match(text)
        if match and in_file:
            index += 1
            if int(match["old"]) <= line:
                best = index
    return best


def _refusal(stderr: str, diff: str, current: Callable[[str], bytes | None]) -> ChangeRefused:
    """git apply's complaint as an error that names the hunk, file, line and current text."""
    if match := _FAILED.search(stderr):
        path, line = match["path"], int(match["line"])
        return PatchDoesNotApply(
            path,
            line,
            _hunk_at(diff, path, line),
            "the lines it removes or keeps are not there",
            _excerpt(current(path), line),
        )
    if match := _NOT_APPLY.search(stderr):
        path = match["path"]
        return PatchDoesNotApply(path, None, None, match["why"], _excerpt(current(path), None))
    reason = stderr.strip().splitlines()[-1] if stderr.strip() else "git apply refused it"
    return InvalidChange(
        f"the diff could not be read: {reason}. Send a unified diff as `git diff` writes it, or edits."
    )


def _worktree_file(tree: Path) -> Callable[[str], bytes | None]:
    def read(path: str) -> bytes | None:
        target = tree / path
        return target.read_bytes() if target.is_file() and not target.is_symlink() else None

    return read


def check_diff(tree: Path, diff: str) -> None:
    """Does ``diff`` apply to the worktree? ``git apply --check`` writes nothing."""
    text = diff if diff.endswith("\n") else diff + "\n"
    done = gitcmd.run(tree, "apply", "--check", "--recount", "-", input_bytes=text.encode(), check=False)
    if done.returncode != 0:
        raise _refusal(done.stderr.decode(errors="replace"), diff, _worktree_file(tree))


def _closest(text: str, old: str) -> str | None:
    lines = text.splitlines()
    want = old.splitlines() or [old]
    size = len(want)
    best, score = None, 0.0
    for start in range(0, max(1, len(lines) - size + 1)):
        window = "\n".join(lines[start : start + size])
        ratio = difflib.SequenceMatcher(None, window, old).quick_ratio()
        if ratio > score:
            best, score = window, ratio
    return best if score > 0.5 else None


def plan_edits(cache: Path, commit: str, change: Change) -> list[FileChange]:
    """Apply edits in memory against ``commit``: the new content of every file, or why not."""
    assert change.edits is not None
    contents: dict[str, bytes | None] = {}
    files: dict[str, FileChange] = {}
    for edit in change.edits:
        check_path(normalize(edit.path))  # before git is asked about it: a NUL cannot even be an argument
    for index, edit in enumerate(change.edits, start=1):
        path = normalize(edit.path)
        if path not in contents:
            contents[path] = _blob(cache, commit, path)
        current = contents[path]
        item = files.setdefault(path, FileChange(path=path))
        if edit.delete:
            if current is None:
                raise EditDoesNotMatch(path, index, 0, None)
            contents[path] = None
            item.kind, item.removed = "delete", len(current.splitlines())
            continue
        if edit.create is not None:
            item.kind = "create" if current is None else "modify"
            contents[path] = edit.create.encode()
            continue
        if current is None:
            raise EditDoesNotMatch(path, index, 0, None)
        text = current.decode(errors="surrogateescape")
        assert edit.old is not None and edit.new is not None
        found = text.count(edit.old)
        if found != 1:
            raise EditDoesNotMatch(path, index, found, _closest(text, edit.old) if found == 0 else None)
        contents[path] = text.replace(edit.old, edit.new, 1).encode(errors="surrogateescape")
    for path, item in files.items():
        before = _blob(cache, commit, path)
        after = contents[path]
        item.new_content = after
        old_lines = before.decode(errors="replace").splitlines() if before else []
        new_lines = after.decode(errors="replace").splitlines() if after else []
        item.added, item.removed = [], 0
        for line in difflib.unified_diff(old_lines, new_lines, lineterm="", n=0):
            if line.startswith("+") and not line.startswith("+++"):
                item.added.append(line[1:])
            elif line.startswith("-") and not line.startswith("---"):
                item.removed += 1
        item.binary = after is not None and b"\0" in after
    return list(files.values())


def paths_git_reads(repo: Path, diff: str) -> set[str] | None:
    """The paths ``git apply`` itself would touch for ``diff`` (``--numstat`` reads the patch and applies
    nothing); None when git cannot read it at all, which ``git apply`` will then refuse too."""
    text = diff if diff.endswith("\n") else diff + "\n"
    done = gitcmd.run(repo, "apply", "--numstat", "-z", "--recount", "-", input_bytes=text.encode(), check=False)
    if done.returncode != 0:
        return None
    fields = done.stdout.decode(errors="surrogateescape").split("\0")
    paths: set[str] = set()
    index = 0
    while index < len(fields):
        record = fields[index]
        if not record:
            index += 1
            continue
        counts = record.split("\t", 2)
        if len(counts) == 3 and counts[2]:
            paths.add(normalize(counts[2]))
            index += 1
        else:  # a rename or copy: "added\tremoved\t" then the old and the new path as their own fields
            paths.update(normalize(path) for path in fields[index + 1 : index + 3] if path)
            index += 3
    return paths


_SUMMARY_MODE = re.compile(r"^ (?:create mode (?P<created>\d+)|mode change \d+ => (?P<changed>\d+)) (?P<path>.*)$")


def modes_git_writes(repo: Path, diff: str) -> list[tuple[str, int]]:
    """The modes ``git apply`` itself would give files for ``diff`` (``--summary`` applies nothing):
    a second reading, by git, of what :func:`parse_diff` read from the headers."""
    text = diff if diff.endswith("\n") else diff + "\n"
    done = gitcmd.run(repo, "apply", "--summary", "--recount", "-", input_bytes=text.encode(), check=False)
    found: list[tuple[str, int]] = []
    for line in done.stdout.decode(errors="surrogateescape").splitlines():
        if match := _SUMMARY_MODE.match(line):
            found.append((unquote(match["path"]), int(match["created"] or match["changed"], 8)))
    return found


def plan(cache: Path, commit: str, change: Change) -> Plan:
    """What the change will do to ``commit``, parsed and checked, before anything is written."""
    if change.diff is not None:
        the_plan = Plan(files=parse_diff(change.diff), diff=change.diff)
        # The policy judges the paths read from the headers; git must mean exactly those paths, or a
        # header written to be misread could slip a file past the policy.
        git_reads = paths_git_reads(cache, change.diff)
        if git_reads is not None and git_reads != set(the_plan.paths):
            raise InvalidChange(
                f"`path-inside-repo`: the diff's headers name {sorted(the_plan.paths)} but git would change "
                f"{sorted(git_reads)}; send a unified diff as `git diff` writes it (a/ and b/ prefixes, one path "
                "per header), or structured edits instead"
            )
        for path, mode in modes_git_writes(cache, change.diff):
            if mode not in FILE_MODES:  # the headers' reading missed it; git's own reading does not
                raise mode_refused(normalize(path), mode)
        return the_plan
    return Plan(files=plan_edits(cache, commit, change), diff=None)


def apply(worktree: Path, the_plan: Plan) -> None:
    """Write the planned change into a worktree (only after the policy allowed it)."""
    if the_plan.diff is not None:
        text = the_plan.diff if the_plan.diff.endswith("\n") else the_plan.diff + "\n"
        # git apply is atomic: a hunk that does not apply leaves the worktree as it was. --index stages
        # exactly what it wrote, so no path of the agent's is ever handed to `git add`.
        done = gitcmd.run(
            worktree,
            "apply",
            "--index",
            "--recount",
            "--whitespace=nowarn",
            "-",
            input_bytes=text.encode(),
            check=False,
        )
        if done.returncode != 0:
            raise _refusal(done.stderr.decode(errors="replace"), the_plan.diff, _worktree_file(worktree))
        return
    for item in the_plan.files:
        target = worktree / item.path
        if item.new_content is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.new_content)
