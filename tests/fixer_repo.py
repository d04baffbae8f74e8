"""A tiny real project with two seeded faults and its own tests, for the fixer's tests."""

from __future__ import annotations

import hashlib
import sys
import uuid
from pathlib import Path

from fixer.models import Change, FixRequest
from tests.conftest import git, make_repo

CALC = '''"""Arithmetic the service gets wrong."""


def add(a: int, b: int) -> int:
    return a - b


def mul(a: int, b: int) -> int:
    return a * b + 1
'''

TESTS = """from app.calc import add, mul


def test_add():
    assert add(2, 3) == 5


def test_mul():
    assert mul(2, 3) == 6
"""

FILES = {
    "app/__init__.py": "",
    "app/calc.py": CALC,
    "tests/__init__.py": "",
    "tests/test_calc.py": TESTS,
    "README.md": "calc\n",
    ".github/workflows/ci.yml": "on: push\n",
}

TEST_COMMAND = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


def make_calc_repo(path: Path) -> Path:
    return make_repo(path, FILES)


def diff_for(repo: Path, edits: dict[str, tuple[str, str]], scratch: Path) -> str:
    """A unified diff, as `git diff` writes it, that applies ``old -> new`` replacements."""
    work = scratch / f"diff-{uuid.uuid4().hex[:8]}"
    git(scratch, "clone", "-q", str(repo), str(work))
    for path, (old, new) in edits.items():
        target = work / path
        text = target.read_text() if target.exists() else ""
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace(old, new) if old else new)
    git(work, "add", "-A")
    return git(work, "diff", "--cached")


def snapshot(repo: Path) -> dict[str, str]:
    """Every file under ``repo`` (including .git) with its content hash: byte-for-byte comparable."""
    out = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


ADD_FIX = {"app/calc.py": ("return a - b", "return a + b")}
MUL_FIX = {"app/calc.py": ("return a * b + 1", "return a * b")}


def fix_request(change: Change, incident: str = "INC-20261122-0001", **fields: object) -> FixRequest:
    """A request for the calc service carrying ``change``; ``fields`` override the rest."""
    values: dict[str, object] = {
        "incident_id": incident,
        "service": "calc",
        "severity": "high",
        "title": "t",
        "summary": "s",
        "explanation": "e",
        "trace_id": "t",
        "change": change,
    }
    return FixRequest.model_validate(values | fields)
