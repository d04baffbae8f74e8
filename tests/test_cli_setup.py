"""Set-up mistakes a new user makes at the command line, run as real `healer` child processes."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import httpx

from tests.conftest import HEALER, healer_env, start_server


def healer(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_a_port_in_use_is_one_clear_line_and_listening_is_never_claimed(healer_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = healer(healer_env(healer_home), "serve", "--port", str(port))
    assert done.returncode == 2
    assert f"port {port} is in use on 127.0.0.1; pass --port" in done.stderr
    assert "listening" not in done.stderr and "Errno" not in done.stderr and "Traceback" not in done.stderr


def test_an_impossible_port_is_an_argument_error(healer_home: Path) -> None:
    for value in ("99999", "0", "http"):
        done = healer(healer_env(healer_home), "serve", "--port", value)
        assert done.returncode == 2, value
        assert "from 1 to 65535" in done.stderr and "Traceback" not in done.stderr


def test_the_server_says_listening_and_answers_on_its_port(healer_home: Path, tmp_path: Path) -> None:
    running = start_server(healer_env(healer_home), tmp_path / "serve.log")
    try:
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200
    finally:
        running.stop()
    log = running.log.read_text()
    assert log.count("listening on http://127.0.0.1:") == 1
    assert "setup plugin" not in log and "Running upgrade" not in log  # Alembic's routine, on a fresh database


def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's environment without HEALER_HOME: the default home lands under this HOME."""
    env = healer_env(tmp_path)
    del env["HEALER_HOME"], env["HEALER_DATABASE_URL"]
    env["HOME"] = str(tmp_path / "user")
    env.update(extra)
    return env


def test_a_command_that_creates_the_home_says_where_and_migrations_stay_quiet(tmp_path: Path) -> None:
    env = bare_env(tmp_path)
    first = healer(env, "pr", "list")
    home = tmp_path / "user" / ".local" / "share" / "devops-healer"
    assert first.returncode == 0 and (home / "healer.db").is_file()
    assert f"created a new home at {home} (set HEALER_HOME to use another folder)" in first.stderr
    assert "Running upgrade" not in first.stderr and "alembic" not in first.stderr
    again = healer(env, "pr", "list")
    assert again.returncode == 0 and "created" not in again.stderr


def test_debug_logging_shows_the_migrations(tmp_path: Path) -> None:
    done = healer(bare_env(tmp_path), "--log-level", "DEBUG", "pr", "list")
    assert done.returncode == 0 and "Running upgrade" in done.stderr


def test_a_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    afile = tmp_path / "healer-home"
    afile.write_text("not a folder")
    for args in (("pr", "list"), ("dlq", "list"), ("db", "upgrade")):
        done = healer(bare_env(tmp_path, HEALER_HOME=str(afile)), *args)
        assert done.returncode == 2, args
        expected = f"HEALER_HOME is {afile}, which is a file, not a folder; point it at a folder (created if missing)"
        assert done.stderr == f"healer: {expected}\n"
        assert afile.read_text() == "not a folder"
