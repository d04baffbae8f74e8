"""Shared fixtures: real stores (SQLite, and PostgreSQL when configured), git repos, server processes.

One recording fake per collaborator lives here (FakeClock); tests never paste their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from server.store import Store
from server.store.hooks import StoreHooks

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
HEALER = str(Path(sys.executable).with_name("healer"))

PG_ENV = "HEALER_TEST_DATABASE_URL"


@dataclass
class FakeClock:
    """A clock tests move by hand; records every reading."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    readings: int = 0

    def now(self) -> datetime:
        self.readings += 1
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _postgres_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return url or None


def _fresh_pg_schema(base: str) -> str:
    """A URL whose connections use a new, empty schema, so tests never see each other's rows."""
    import sqlalchemy as sa

    from server.store.engine import normalize_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(normalize_url(base))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:  # set but unreachable: a failure, never a skip
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {exc.orig}")
    finally:
        engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both backends; PostgreSQL only where HEALER_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'healer.db'}"
    base = _postgres_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql://USER@HOST:PORT/DB (CI sets it)")
    return _fresh_pg_schema(base)


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    opened = Store.open(db_url, clock=clock, lease_seconds=900, max_attempts=3)
    yield opened
    opened.close()


def wait_until_triaged(url: str, incident_id: str, *, headers: dict[str, str] | None = None) -> dict[str, object]:
    """The incident once the server's triage worker has routed it (it is `received` until then)."""
    deadline = time.monotonic() + 15
    while True:
        incident: dict[str, object] = httpx.get(f"{url}/incidents/{incident_id}", headers=headers, timeout=5).json()
        if incident["status"] not in ("received", "triaged") or time.monotonic() > deadline:
            return incident
        time.sleep(0.02)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=True)
    return done.stdout


def make_repo(path: Path, files: dict[str, str], *, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


PAYMENTS_FILES = {
    "app/__init__.py": "",
    "app/db.py": "".join(f"# line {n}\n" for n in range(1, 40))
    + "def connect(pool_size=1):\n    raise RuntimeError('pool exhausted')\n",
    "app/api.py": "from app.db import connect\n\n\ndef handler():\n    return connect()\n",
    "tests/test_db.py": "def test_connect():\n    pass\n",
    "README.md": "payments\n",
}


@pytest.fixture
def payments_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "payments", PAYMENTS_FILES)


def write_config(home: Path, repos: dict[str, Path]) -> Path:
    lines = []
    for name, path in repos.items():
        lines += [
            f"[repos.{name}]",
            f'path = "{path}"',
            'default_branch = "main"',
            'test_command = "python -m pytest -q"',
            f'services = ["{name}", "{name}-api"]',
            "",
        ]
    config = home / "healer.toml"
    config.write_text("\n".join(lines))
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def healer_home(tmp_path: Path, payments_repo: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, {"payments": payments_repo})
    return home


def person_toml(login: str, token: str) -> str:
    """A ``[people.<login>]`` table whose person token is ``token``."""
    from server.approvals.people import token_hash

    return f'\n[people.{login}]\ntoken_sha256 = "{token_hash(token)}"\n'


def as_person(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def healer_env(home: Path, db_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALER_") and k != "GITHUB_TOKEN"}
    env["HEALER_HOME"] = str(home)
    env["HEALER_DATABASE_URL"] = db_url or f"sqlite:///{home / 'healer.db'}"
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    env: dict[str, str]
    log: Path
    handle: BinaryIO | None = None

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            if self.handle is not None:
                self.handle.close()

    def _stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(env: dict[str, str], log: Path, *, host: str = "127.0.0.1", wait_seconds: float = 30) -> ServerProcess:
    port = free_port()
    handle = log.open("ab")
    process = subprocess.Popen(
        [HEALER, "serve", "--host", host, "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.close()
            raise RuntimeError(f"healer serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return ServerProcess(process, url, env, log, handle)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    handle.close()
    raise RuntimeError(f"healer serve did not become healthy:\n{log.read_text()}")


@pytest.fixture
def server_env(healer_home: Path, db_url: str) -> dict[str, str]:
    return healer_env(healer_home, db_url)


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(server_env, tmp_path / "server.log")
    yield running
    running.stop()


class MemoryPullRequests:
    """The local forge's records kept in memory (the server keeps them in its store); records every call."""

    def __init__(self) -> None:
        from fixer.forge_local import Comment, LocalPullRequest

        self._model = LocalPullRequest
        self._comment = Comment
        self.prs: dict[int, LocalPullRequest] = {}
        self.notes: dict[int, list[Comment]] = {}
        self.calls: list[str] = []

    def create(self, repo, draft, head_sha, url_for):  # type: ignore[no-untyped-def]
        self.calls.append("create")
        number = len(self.prs) + 1
        self.prs[number] = self._model(
            number=number,
            url=f"{url_for}/{number}",
            title=draft.title,
            body=draft.body,
            state="open",
            draft=draft.draft,
            head=draft.head,
            base=draft.base,
            head_sha=head_sha,
            labels=draft.labels,
            incident_id=draft.incident_id,
            repo=repo,
        )
        return self.prs[number]

    def get(self, number):  # type: ignore[no-untyped-def]
        return self.prs.get(number)

    def find_open(self, repo, incident_id, branch):  # type: ignore[no-untyped-def]
        for pr in self.prs.values():
            if pr.repo == repo and pr.state == "open" and (pr.incident_id == incident_id or pr.head == branch):
                return pr
        return None

    def update(self, number, **fields):  # type: ignore[no-untyped-def]
        self.calls.append("update")
        self.prs[number] = self.prs[number].model_copy(update=fields)
        return self.prs[number]

    def list_prs(self, repo=None, state=None):  # type: ignore[no-untyped-def]
        return [
            p for p in self.prs.values() if (repo is None or p.repo == repo) and (state is None or p.state == state)
        ]

    def add_comment(self, number, author, body):  # type: ignore[no-untyped-def]
        self.calls.append("comment")
        self.notes.setdefault(number, []).append(self._comment(author=author, body=body))

    def comments(self, number):  # type: ignore[no-untyped-def]
        return list(self.notes.get(number, []))


class RecordingHooks:
    """Store hooks that note each call and answer a failed attempt by putting the incident back in the queue."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []
        self.failed: list[str] = []

    def on_transition(self, connection, row, frm, to, *, now, detail):  # type: ignore[no-untyped-def]
        self.moves.append((frm.value, to.value))

    def on_failed_attempt(self, connection, incident_id, *, agent, error, permanent, now, max_attempts, rng, row=None):  # type: ignore[no-untyped-def]
        from server.models import Status
        from server.store import writes

        self.failed.append(error)
        return writes.transition(connection, incident_id, Status.pending, now=now, actor=f"agent:{agent}", row=row)

    def hooks(self) -> StoreHooks:
        return StoreHooks(on_transition=self.on_transition, on_failed_attempt=self.on_failed_attempt)
