"""The server's side of the test sandbox: each repository's mode, what stays hidden, the start-up line."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fixer.sandbox import bwrap_path
from server.common.settings import Settings
from server.config import RepoConfig, load_config, parse_config
from server.errors import ConfigError
from server.fixing.forges import repo_spec
from server.fixing.sandboxing import HOME_CREDENTIALS, default_mode, hidden_paths, log_availability
from tests.conftest import HEALER, free_port, healer_env


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        ({}, "auto"),  # a default install: loopback only
        ({"bind_host": "::1"}, "auto"),
        ({"bind_host": "0.0.0.0"}, "required"),  # healer serve --host 0.0.0.0
        ({"bind_host": "10.1.2.3"}, "required"),
        ({"allowed_hosts": ["healer.example.com"]}, "required"),  # a reverse proxy in front of loopback
        ({"allowed_hosts": ["localhost:8080"]}, "auto"),
        ({"public_url": "https://healer.example.com"}, "required"),
        ({"public_url": "http://127.0.0.1:8080"}, "auto"),
    ],
)
def test_the_default_sandbox_is_required_whenever_other_machines_reach_the_server(
    tmp_path: Path, settings: dict[str, Any], mode: str
) -> None:
    built = Settings(home=tmp_path, **settings)
    repo = RepoConfig(name="calc", path=tmp_path, test_command="pytest")

    assert default_mode(built) == mode
    assert repo_spec(repo, built).sandbox == mode


@pytest.mark.parametrize("mode", ["required", "auto", "off"])
def test_a_repository_s_own_sandbox_key_wins(tmp_path: Path, mode: str) -> None:
    config = parse_config({"repos": {"calc": {"path": str(tmp_path), "sandbox": mode, "test_network": True}}})

    spec = repo_spec(config.repos["calc"], Settings(home=tmp_path, bind_host="0.0.0.0"))

    assert (spec.sandbox, spec.test_network) == (mode, True)


def test_an_unknown_sandbox_mode_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "healer.toml"
    path.write_text('[repos.calc]\npath = "/x"\nsandbox = "sometimes"\n')

    with pytest.raises(ConfigError, match=r"repos\.calc\.sandbox: input should be 'required', 'auto' or 'off'"):
        load_config(path)


def test_the_server_s_files_are_hidden_wherever_they_live(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home", config=tmp_path / "etc" / "healer.toml", database_url=f"sqlite:///{tmp_path}/db/x.db"
    )

    assert hidden_paths(settings, home=tmp_path / "user") == (
        tmp_path / "home",
        tmp_path / "etc" / "healer.toml",
        tmp_path / "db" / "x.db",
        tmp_path / "db" / "x.db-wal",
        tmp_path / "db" / "x.db-shm",
        tmp_path / "db" / "x.db-journal",
        *(tmp_path / "user" / name for name in HOME_CREDENTIALS),
    )
    assert tmp_path / "user" / ".ssh" in hidden_paths(settings, home=tmp_path / "user")


def test_start_up_warns_naming_the_fix_when_bwrap_is_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = parse_config(
        {"repos": {"calc": {"path": str(tmp_path)}, "docs": {"path": str(tmp_path), "sandbox": "off"}}}
    )
    caplog.set_level(logging.INFO)

    log_availability(Settings(home=tmp_path, bind_host="0.0.0.0"), config, bwrap=str(tmp_path / "nowhere"))

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "test sandbox unavailable" in record.getMessage()
    assert "sandbox = required will not run their tests: calc" in record.getMessage()
    assert "sandbox = off for docs" in record.getMessage()
    assert "apt-get install bubblewrap" in record.getMessage()


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap (bwrap) is missing; apt-get install bubblewrap")
def test_healer_serve_says_at_start_that_tests_run_sandboxed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "server.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [HEALER, "serve", "--port", str(free_port())], env=healer_env(home), stdout=handle, stderr=handle
        )
        try:
            deadline = time.monotonic() + 60
            while "test sandbox" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(30)

    [line] = [line for line in log.read_text().splitlines() if "test sandbox" in line]
    assert "test sandbox: bubblewrap at " in line and "test commands run sandboxed" in line
