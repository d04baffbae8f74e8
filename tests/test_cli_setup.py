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
    assert running.log.read_text().count("listening on http://127.0.0.1:") == 1
