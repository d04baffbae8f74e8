"""`healer doctor` on real repositories, a real database and the GitHub emulator; its cheap checks at serve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.commands.doctor_checks import github_token
from server.common.settings import Settings
from server.config import load_config
from tests.conftest import HEALER, healer_env, make_repo, start_server
from tests.github_emulator import GitHubEmulator

TOKEN = "ghp_" + "d" * 36


def write_home(tmp_path: Path, *, branch: str = "main", test_command: str | None = None) -> Path:
    repo = make_repo(tmp_path / "orders", {"README.md": "orders\n"}, branch="master")
    home = tmp_path / "home"
    home.mkdir()
    command = test_command or f"{sys.executable} -m pytest -q"
    (home / "healer.toml").write_text(
        f'[repos.orders]\npath = "{repo}"\ndefault_branch = "{branch}"\ntest_command = "{command}"\n'
        f'services = ["orders"]\n\n[repos.gone]\npath = "{tmp_path / "nowhere"}"\n'
    )
    return home


def test_doctor_names_each_problem_and_what_to_change(tmp_path: Path) -> None:
    home = write_home(tmp_path, test_command="pytest-nowhere -q")
    done = subprocess.run([HEALER, "doctor"], env=healer_env(home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"ok    configuration: {home / 'healer.toml'}"
    assert f"FAIL  repository orders: {tmp_path / 'orders'} has no branch 'main' (branches: master);" in done.stdout
    assert "FAIL  repository orders test command: the test command `pytest-nowhere -q` cannot start" in done.stdout
    assert f"FAIL  repository gone: path {tmp_path / 'nowhere'} does not exist" in done.stdout
    assert "ok    database: writable" in done.stdout
    assert lines[-1] == "3 problem(s) found"


def test_doctor_passes_a_good_setup(tmp_path: Path) -> None:
    home = write_home(tmp_path, branch="master")
    (home / "healer.toml").write_text((home / "healer.toml").read_text().split("[repos.gone]")[0])
    done = subprocess.run([HEALER, "doctor"], env=healer_env(home), capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "everything checked is in order"), done.stdout


def test_serve_warns_at_start_about_what_doctor_finds(tmp_path: Path) -> None:
    home = write_home(tmp_path)
    running = start_server(healer_env(home), tmp_path / "serve.log")
    running.stop()
    log = running.log.read_text()
    assert "has no branch 'main'" in log and "run `healer doctor` for every check" in log


@pytest.fixture
def emulator(tmp_path: Path) -> GitHubEmulator:
    emu = GitHubEmulator(tmp_path / "github", token=TOKEN)
    emu.start()
    yield emu  # type: ignore[misc]
    emu.stop()


def github_config(tmp_path: Path) -> Path:
    config = tmp_path / "healer.toml"
    config.write_text(
        '[repos.orders]\nurl = "https://example.invalid/x.git"\nforge = "github"\ngithub_repo = "acme/x"\n'
    )
    return config


@pytest.mark.parametrize(
    ("scopes", "ok", "says"),
    [
        ("repo, workflow", True, "scopes repo, workflow"),
        ("read:org", False, "scopes read:org; pushing and opening PRs needs `repo`"),
        (None, True, "fine-grained"),
    ],
)
def test_the_github_token_scopes_come_from_githubs_header(
    tmp_path: Path, emulator: GitHubEmulator, scopes: str | None, ok: bool, says: str
) -> None:
    emulator.scopes = scopes
    config = load_config(github_config(tmp_path))
    finding = github_token(config, Settings(github_token=TOKEN, github_url=emulator.url))
    assert finding is not None and (finding.ok, says in finding.message) == (ok, True), finding


def test_a_refused_github_token_is_named_without_its_value(tmp_path: Path, emulator: GitHubEmulator) -> None:
    config = load_config(github_config(tmp_path))
    wrong = "ghp_" + "e" * 36
    finding = github_token(config, Settings(github_token=wrong, github_url=emulator.url))
    assert finding is not None and not finding.ok and "401" in finding.message and wrong not in finding.message
