"""The demo service: three seeded faults, one failing test each, a patch for each, realistic payloads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.demo.scenarios import SCENARIOS
from server.intake.stacktrace import map_to_repo, parse_stack_trace
from server.models import IncidentIn
from tests.conftest import REPO_ROOT, git

DEMO = REPO_ROOT / "demo_repo"


def copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "orders"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "orders")
    return target


def failing(repo: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return sorted(line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAILED "))


def test_exactly_the_three_seeded_faults_fail(tmp_path: Path) -> None:
    assert failing(copy_demo(tmp_path)) == sorted(s.failing_test for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.key for s in SCENARIOS])
def test_each_patch_fixes_its_fault_and_only_it(tmp_path: Path, scenario) -> None:  # type: ignore[no-untyped-def]
    repo = copy_demo(tmp_path)
    subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=scenario.diff(), text=True, check=True)
    subprocess.run(["git", "apply", "-"], cwd=repo, input=scenario.diff(), text=True, check=True)
    assert failing(repo) == sorted(s.failing_test for s in SCENARIOS if s is not scenario)


@pytest.mark.parametrize("scenario", ["pool", "leak", "auth", "slow"])
def test_log_generator_emits_incidents_with_real_frames(tmp_path: Path, scenario: str) -> None:
    repo = copy_demo(tmp_path)
    done = subprocess.run(
        [sys.executable, str(repo / "loggen.py"), "--scenario", scenario],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = json.loads(done.stdout)
    report = IncidentIn.model_validate(body)
    assert report.service == "orders" and report.severity in ("critical", "high", "low")
    if scenario == "slow":
        assert report.severity == "low" and report.stack_trace is None
        return
    frames = parse_stack_trace(str(report.stack_trace))
    files = list((repo / "orders").rglob("*.py"))
    mapped = {map_to_repo(f.filename, [str(p.relative_to(repo)) for p in files]) for f in frames}
    assert report.affected_file in mapped  # the trace points at the faulty file in this repository
    for frame in frames:
        if frame.filename.startswith(str(repo)):
            lines = Path(frame.filename).read_text().splitlines()
            assert frame.lineno is not None and 1 <= frame.lineno <= len(lines)


def test_alertmanager_shape(tmp_path: Path) -> None:
    repo = copy_demo(tmp_path)
    done = subprocess.run(
        [sys.executable, str(repo / "loggen.py"), "--format", "alertmanager"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body = json.loads(done.stdout)
    assert body["version"] == "4" and body["status"] == "firing" and len(body["alerts"]) == 4
    for alert in body["alerts"]:
        assert {"alertname", "service", "severity", "instance"} <= set(alert["labels"])
        assert alert["status"] == "firing" and len(alert["fingerprint"]) == 16 and alert["startsAt"]


def test_coderabbit_settings_follow_the_documented_schema() -> None:
    import yaml

    settings = yaml.safe_load((DEMO / ".coderabbit.yaml").read_text())
    instructions = settings["reviews"]["path_instructions"]
    assert settings["reviews"]["profile"] in ("chill", "assertive")
    assert all(set(item) == {"path", "instructions"} for item in instructions)
    assert {item["path"] for item in instructions} >= {"orders/db.py", "orders/auth.py", "orders/cache.py"}
