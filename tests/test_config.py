"""healer.toml and the environment: a wrong setting names the file or variable, the key and what was expected."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from server.config import load_config
from server.errors import ConfigError
from tests.conftest import HEALER, healer_env


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "healer.toml"
    path.write_text(text)
    return path


def test_missing_file_is_an_empty_map(tmp_path: Path) -> None:
    assert load_config(tmp_path / "absent.toml").repos == {}


def test_relative_path_is_taken_from_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[repos.pay]\npath = "src/pay"\nservices = ["pay-api"]\n'))
    assert config.repos["pay"].path == tmp_path / "src/pay"
    assert config.repo_for_service("pay-api") is config.repos["pay"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[repos.pay]\npath = "/x"\ntest_command = 42\n',
            r"repos\.pay\.test_command: input should be a valid string, got 42",
        ),
        ('[repos.pay]\npath = "/x"\ntest_comand = "pytest"\n', r"repos\.pay\.test_comand: unknown key"),
        ("[repos.pay]\n", r"repos\.pay: expected exactly one of `path`"),
        ('[repos.pay]\npath = "/x"\ndefault_branch = "--upload-pack=x"\n', r"default_branch: expected a branch name"),
        ("[repos.pay\n", r"not valid TOML"),
    ],
)
def test_errors_name_file_key_and_expectation(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def run_healer_mcp(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real `healer mcp` process, as an agent's client starts it; stdin closed, so a good start ends at once."""
    return subprocess.run(
        [HEALER, "mcp"], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_bad_healer_toml_stops_healer_mcp_naming_file_key_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "[repos.x]\ntest_command = 5\n")
    ran = run_healer_mcp(healer_env(tmp_path, HEALER_CONFIG=str(path)))
    assert (ran.returncode, ran.stdout) == (2, "")  # stdout stays clean: it is the protocol channel
    assert ran.stderr == f"healer: {path}: repos.x.test_command: input should be a valid string, got 5\n"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HEALER_MAX_BODY_BYTES", "lots", "input should be a valid integer, unable to parse string as an integer"),
        ("HEALER_MAX_BODY_BYTES", "5", "input should be greater than or equal to 1024"),  # a bound
        ("HEALER_SQLITE_SYNCHRONOUS", "OFF", "input should be 'FULL' or 'NORMAL'"),  # the choices, as spelled
        ("HEALER_ALLOWED_HOSTS", "a,b", 'could not be parsed; give a JSON value, e.g. ["a", "b"] for a list'),
    ],
)
def test_a_bad_environment_setting_names_the_variable(tmp_path: Path, variable: str, value: str, expected: str) -> None:
    ran = run_healer_mcp(healer_env(tmp_path, **{variable: value}))
    assert ran.returncode == 2
    assert ran.stderr == f"healer: bad environment setting {variable}: {expected}\n"
    assert "pydantic" not in ran.stderr  # no help URL
    assert variable.removeprefix("HEALER_").lower() not in ran.stderr  # nor the pydantic field name
