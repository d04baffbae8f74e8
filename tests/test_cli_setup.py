"""Set-up mistakes a new user makes at the command line, run as real `healer` child processes."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import time
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


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`healer ... | head`: the pipe's reader is gone before the command writes (closed at once here)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [HEALER, "pr", "list"], env=bare_env(tmp_path), stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(writer)
    assert "BrokenPipeError" not in done.stderr and "Traceback" not in done.stderr and "Exception" not in done.stderr
    assert done.returncode == 141


def read_until(fd: int, marker: bytes | None, seconds: float) -> bytes:
    """What a pseudo-terminal shows until ``marker`` appears, the other end closes, or time runs out."""
    seen = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (marker is None or marker not in seen):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_mcp_started_by_hand_says_what_it_is_and_ctrl_c_ends_it_cleanly(healer_home: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: `healer mcp` on a terminal, as a person would start it
        os.execve(HEALER, [HEALER, "mcp"], healer_env(healer_home))
    try:
        shown = read_until(fd, b"Ctrl-C quits.", 60)
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal's line discipline (SIGINT to the process)
        shown += read_until(fd, None, 15)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = shown.decode(errors="replace")
    assert "healer mcp: devops-healer's MCP server on stdio" in text
    assert '{"command": "' in text and '"args": ["mcp"]' in text and "@modelcontextprotocol/inspector" in text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert os.waitstatus_to_exitcode(status) == 130
