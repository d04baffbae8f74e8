"""The commands the README and docs show, run or parsed as a reader would use them.

Conventions, for whoever edits the docs:
- A fenced block whose lines start with `$ ` is a transcript, meant to run: each `$` command runs
  in bash in an empty folder, with HEALER_HOME holding the ```toml blocks of the same section
  (the text between two headings) as healer.toml, and `http://127.0.0.1:8080` pointing at a real
  `healer serve` on that home. Every line shown under a command must be a line of its output.
- Any other fenced line that starts with `healer ` is a command to copy: it must parse with the
  real CLI (its options and subcommands exist). Synopsis lines with `[...]` or `a|b` are skipped.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.cli import build_parser
from tests.conftest import HEALER, healer_env, start_server

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    file: Path
    language: str
    text: str
    section: str  # the text of the section the block is in


def blocks() -> list[Block]:
    found = []
    for file in DOCS:
        text = file.read_text()
        for section in re.split(r"^#{1,6} ", text, flags=re.MULTILINE):
            for match in FENCE.finditer(section):
                found.append(Block(file, match.group(1), match.group(2), section))
    return found


def transcripts() -> list[Block]:
    return [block for block in blocks() if any(line.startswith("$ ") for line in block.text.splitlines())]


def steps(block: Block) -> list[tuple[str, list[str]]]:
    """Each `$` command with the output lines shown under it."""
    found: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found and line.strip():
            found[-1][1].append(line.rstrip())
    return found


@pytest.mark.parametrize("block", transcripts(), ids=lambda b: f"{b.file.name}:{b.text.splitlines()[0][:40]}")
def test_every_transcript_runs_and_prints_what_it_shows(block: Block, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    toml = [match.group(2) for match in FENCE.finditer(block.section) if match.group(1) == "toml"]
    (home / "healer.toml").write_text("\n".join(toml))
    env = healer_env(home, PATH=f"{Path(HEALER).parent}:/usr/bin:/bin")
    server = start_server(env, tmp_path / "serve.log") if "127.0.0.1:8080" in block.text else None
    work = tmp_path / "work"
    work.mkdir()
    try:
        for command, shown in steps(block):
            if server is not None:
                command = command.replace("http://127.0.0.1:8080", server.url)
            done = subprocess.run(
                ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=120
            )
            printed = [line.rstrip() for line in done.stdout.splitlines()]
            for line in shown:
                assert line in printed, (
                    f"{block.file.name}: `{command}` did not print:\n{line}\nIt printed:\n{done.stdout}"
                )
    finally:
        if server is not None:
            server.stop()


def copyable_commands() -> list[tuple[str, str]]:
    found = []
    for block in blocks():
        for line in block.text.splitlines():
            command = line.split("  #")[0].strip()
            if not command.startswith("healer ") or re.search(r"\[|\||<|\.\.\.", command):
                continue
            found.append((block.file.name, command))
    return found


@pytest.mark.parametrize(("file", "command"), copyable_commands())
def test_every_healer_command_shown_parses(file: str, command: str) -> None:
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as exc:
        pytest.fail(f"{file}: `{command}` does not parse (exit {exc.code})")


def test_the_conventions_find_the_readmes_commands() -> None:
    assert any("healer rules test report.json" in block.text for block in transcripts())
    assert ("README.md", "healer pr review 1 --approve") in copyable_commands()
