"""Stack traces of four runtimes parsed into frames, and frames mapped onto repository files."""

from __future__ import annotations

import pytest

from server.intake.stacktrace import map_to_repo, parse_stack_trace

JAVA = """java.lang.IllegalStateException: pool exhausted
\tat com.acme.db.Pool.acquire(Pool.java:88)
\tat com.acme.api.Handler.handle(Handler.java:12)"""
NODE = """TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:14:22)
    at /app/src/server.js:40:5"""
GO = """panic: runtime error: invalid memory address or nil pointer dereference
goroutine 1 [running]:
main.handler(0x0)
\t/go/src/app/main.go:27 +0x1d"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (JAVA, [("Pool.java", 88, "com.acme.db.Pool.acquire"), ("Handler.java", 12, "com.acme.api.Handler.handle")]),
        (NODE, [("/app/src/users.js", 14, "getUser"), ("/app/src/server.js", 40, None)]),
        (GO, [("/go/src/app/main.go", 27, "main.handler")]),
        ("no trace here", []),
    ],
)
def test_parse(text: str, expected: list[tuple[str, int, str | None]]) -> None:
    assert [(f.filename, f.lineno, f.function) for f in parse_stack_trace(text)] == expected


REPO = ["app/db.py", "app/api.py", "tests/test_db.py", "lib/db.py", "src/users.js"]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("/srv/app/db.py", "app/db.py"),  # deployed under /srv: longest suffix wins
        ("app/api.py", "app/api.py"),
        ("/app/src/users.js", "src/users.js"),
        ("db.py", None),  # a bare name matching two files is a guess: refused
        ("/usr/lib/python3.11/site-packages/sqlalchemy/pool.py", None),  # library frames never map
        ("/srv/other.py", None),
    ],
)
def test_map_to_repo(filename: str, expected: str | None) -> None:
    assert map_to_repo(filename, REPO) == expected
