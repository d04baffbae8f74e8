"""The fixer's policy: what a change may touch, checked before anything is written.

Every rule has a name; a refusal names it, so an agent (or a person reading the timeline) knows
exactly which rule held and why. The rules hold whatever an agent sends: paths are judged as
strings and against the base commit's tree, not against a working tree an earlier step wrote.
"""

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from fixer import gitcmd
from fixer.change import FILE_MODES, GITLINK_MODE, SYMLINK_MODE, Plan, check_path, mode_refused
from fixer.errors import PathOutsideRepo, PolicyViolation
from fixer.models import PolicyConfig

# Secrets an agent must never commit: the same families the intake redacts, matched on added lines.
_SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("AWS secret access key", re.compile(r"(?i)aws_?secret_?access_?key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("Slack webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}")),
    ("password in a URL", re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]{3,}@")),
    (
        "hard-coded credential",
        re.compile(
            r"(?i)\b[\w.-]*(?:password|passwd|secret|api[_-]?key|token|credential)[\w.-]*\s*[:=]\s*['\"][^'\"\s]{8,}['\"]"
        ),
    ),
]


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regex: ``**`` crosses folders, ``*`` and ``?`` do not."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    # Case-insensitive: .GitHub/Workflows is the same folder on a case-insensitive checkout.
    return re.compile(f"^{out}$", re.IGNORECASE)


def denied_by(path: str, globs: Iterable[str]) -> str | None:
    """The first deny glob matching ``path`` (globs without a "/" match the file name anywhere)."""
    name = path.rsplit("/", 1)[-1]
    for pattern in globs:
        target = path if "/" in pattern else name
        if _glob(pattern).match(target):
            return pattern
    return None


def _tree_modes(cache: Path, commit: str, paths: Iterable[str]) -> dict[str, str]:
    """Git modes at ``commit`` of every path and every parent folder of ``paths``."""
    wanted: set[str] = set()
    for path in paths:
        parts = path.split("/")
        wanted.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    if not wanted:
        return {}
    out = gitcmd.run(cache, "ls-tree", "-z", "--full-tree", commit, "--", *sorted(wanted)).stdout
    modes: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, _, name = entry.partition(b"\t")
            modes[name.decode(errors="surrogateescape")] = meta.split(b" ")[0].decode()
    return modes


def check(the_plan: Plan, policy: PolicyConfig, cache: Path, commit: str) -> None:
    """Refuse the plan with the first rule it breaks; return quietly when every rule holds."""
    for path in the_plan.paths:
        check_path(path)
    modes = _tree_modes(cache, commit, the_plan.paths)
    for path in the_plan.paths:
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if modes.get(prefix) == SYMLINK_MODE:
                # Writing through a symlink writes wherever it points, possibly outside the repository.
                raise PathOutsideRepo(path, f"{prefix} is a symlink; changes through symlinks are refused")
            if modes.get(prefix) == GITLINK_MODE:
                raise PathOutsideRepo(path, f"{prefix} is a submodule; its content lives in another repository")
            if depth < len(parts) and modes.get(prefix, "").startswith("100"):
                raise PathOutsideRepo(path, f"{prefix} is a file, not a folder")
        if modes.get(path) == "040000":
            raise PathOutsideRepo(path, "it is a folder; name the files in it instead")
    for item in the_plan.files:
        for mode in item.modes:
            if mode not in FILE_MODES:
                raise mode_refused(item.path, mode)
        for path in filter(None, (item.path, item.old_path)):
            pattern = denied_by(path, policy.deny_globs)
            if pattern is not None:
                raise PolicyViolation("deny-list", path, f"matches `{pattern}` (CI, secrets and review settings)")
        if not policy.allow_binary and (item.binary or any("\0" in line for line in item.added)):
            raise PolicyViolation("no-binary", item.path, "binary content is not accepted")
        if item.new_content is not None and len(item.new_content) > policy.max_file_bytes:
            raise PolicyViolation(
                "max-file-bytes", item.path, f"{len(item.new_content)} bytes; the limit is {policy.max_file_bytes}"
            )
        added_bytes = sum(len(line) + 1 for line in item.added)
        if added_bytes > policy.max_file_bytes:
            raise PolicyViolation(
                "max-file-bytes", item.path, f"adds {added_bytes} bytes; the limit is {policy.max_file_bytes}"
            )
    if len(the_plan.files) > policy.max_files:
        raise PolicyViolation(
            "max-files",
            None,
            f"{len(the_plan.files)} files changed; the limit is {policy.max_files}. Make a smaller fix",
        )
    changed = the_plan.lines_added + the_plan.lines_removed
    if changed > policy.max_changed_lines:
        raise PolicyViolation(
            "max-changed-lines",
            None,
            f"{changed} lines changed; the limit is {policy.max_changed_lines}. Make a smaller fix",
        )
    if policy.scan_secrets:
        for item in the_plan.files:
            for number, line in enumerate(item.added, start=1):
                for kind, secret in _SECRETS:
                    if secret.search(line):
                        raise PolicyViolation(
                            "secret-in-change",
                            item.path,
                            f"added line {number} looks like a {kind}; read secrets from "
                            "the environment or a secret store instead",
                        )
