"""A real `healer serve` with [agents] configured to start the stand-in agent CLI, and the calls tests make on it."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from server.demo import standin_agent
from tests.conftest import ServerProcess, healer_env, start_server
from tests.fixer_repo import TEST_COMMAND, make_calc_repo

STANDIN = str(Path(standin_agent.__file__).resolve())
API_TOKEN = "test-api-token-4f1c9e0b7d2a"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ADD_EDIT = ["--edit", "app/calc.py", "return a - b", "return a + b"]
MUL_EDIT = ["--edit", "app/calc.py", "return a * b + 1", "return a * b"]
#: One client for every call: building one per call (TLS set-up included) costs more than the calls.
HTTP = httpx.Client(timeout=10)
ENDED = {"fixed", "reported", "no_result", "timed_out", "crashed", "cancelled"}


def toml_list(items: list[str]) -> str:
    return json.dumps(items)


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def agent_table(name: str, args: list[str], **keys: Any) -> str:
    command = [sys.executable, STANDIN, "-p", "{prompt}", "--mcp-config", "{mcp_config}", *args]
    lines = [f"[agents.{name}]", f"command = {toml_list(command)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def agent_server(
    tmp_path: Path,
    agents: str,
    dispatch: str = "",
    *,
    extra_env: dict[str, str] | None = None,
    db_url: str | None = None,
) -> Iterator[ServerProcess]:
    """The calc service's repository, and a server whose healer.toml has ``agents`` and ``[dispatch]``."""
    source = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n\n'
        + agents
        + ("\n[dispatch]\n" + dispatch if dispatch else "")
    )
    env = healer_env(home, db_url, HEALER_API_TOKEN=API_TOKEN, **(extra_env or {}))
    server = start_server(env, tmp_path / "server.log", wait_seconds=90)
    try:
        yield server
    finally:
        server.stop()


def report(url: str, **fields: Any) -> str:
    body = {"service": "calc", "error": "add returned -1 for 2+3", "severity": "high", **fields}
    answer = HTTP.post(f"{url}/incidents", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.text
    ident: str = answer.json()["id"]
    return ident


def runs_of(url: str, incident_id: str) -> list[dict[str, Any]]:
    answer = HTTP.get(f"{url}/incidents/{incident_id}/runs", headers=AUTH)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def wait_for_run_end(url: str, incident_id: str, *, count: int = 1, timeout: float = 90) -> dict[str, Any]:
    """The ``count``-th run of the incident, with its transcript, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = runs_of(url, incident_id)
        if len(found) >= count and found[count - 1]["status"] in ENDED:
            answer = HTTP.get(f"{url}/runs/{found[count - 1]['id']}", headers=AUTH)
            run: dict[str, Any] = answer.json()
            return run
        time.sleep(0.2)
    raise AssertionError(f"no ended run #{count} for {incident_id} in {timeout}s: {runs_of(url, incident_id)}")


def incident(url: str, incident_id: str) -> dict[str, Any]:
    found: dict[str, Any] = HTTP.get(f"{url}/incidents/{incident_id}", headers=AUTH).json()
    return found


def timeline(url: str, incident_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = HTTP.get(f"{url}/incidents/{incident_id}/timeline", headers=AUTH).json()
    return found
