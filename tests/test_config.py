"""healer.toml: a wrong file names the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import load_config
from server.errors import ConfigError


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
