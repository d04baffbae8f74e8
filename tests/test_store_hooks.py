"""The store imports nothing above it: what a move announces and how a failed attempt counts come in as hooks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from server.config import HealerConfig
from server.intake.reports import normalize
from server.models import IncidentIn, Severity, Status
from server.store import Store
from server.store.triage_schema import outbox
from tests.conftest import FakeClock, RecordingHooks

ROOT = Path(__file__).resolve().parent.parent
#: What the store may build on: the models, the errors, the lifecycle table and a few leaves.
BELOW_THE_STORE = {"server", "server.errors", "server.lifecycle", "server.models"}
#: ... and the plumbing, which knows no domain.
PLUMBING = "server.common"


def test_importing_the_store_loads_nothing_above_it() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, server.store, server.store.writes, server.store.hooks; "
            "print('\\n'.join(m for m in sys.modules if m.startswith('server')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    above = sorted(m for m in loaded if m not in BELOW_THE_STORE and not m.startswith(("server.store", PLUMBING)))
    assert above == []


def test_no_store_module_imports_above_it() -> None:
    """Inside functions too: a lazy import is still a climb back up (server.notify, server.fixing.attempts once).

    The one reach upward left is by name, in server.store.hooks.standard: the default for a Store
    built without hooks, looked up at its first move."""
    found: list[str] = []
    store = ROOT / "server" / "store"
    # Alembic's scripts under migrations/ are run by `healer db upgrade`, never imported by the store.
    for path in sorted(p for p in store.rglob("*.py") if "migrations" not in p.relative_to(store).parts):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module == "server":
                names = [f"server.{alias.name}" for alias in node.names]
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.startswith("server")
                and name not in BELOW_THE_STORE
                and not name.startswith(("server.store", PLUMBING))
            ]
    assert found == []


def _incident(store: Store) -> str:
    report = IncidentIn(service="payments", error="connection pool exhausted", severity=Severity.high)
    incident_id = store.ingest(normalize(report, HealerConfig())).id
    store.transition(incident_id, Status.pending, actor="system")
    return incident_id


def test_a_store_calls_the_hooks_it_was_built_with(tmp_path: Path, clock: FakeClock) -> None:
    recording = RecordingHooks()
    store = Store.open(f"sqlite:///{tmp_path / 'hooks.db'}", clock=clock, hooks=recording.hooks())
    try:
        incident_id = _incident(store)
        store.claim(incident_id, agent="a1")
        moved = store.report_fix(incident_id, agent="a1", outcome="failed", notes="tests still red")
        store.transition(incident_id, Status.escalated, actor="human:ana")
        with store.read() as connection:
            announced = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
    finally:
        store.close()
    assert recording.moves == [
        ("received", "pending"),
        ("pending", "claimed"),
        ("claimed", "pending"),
        ("pending", "escalated"),
    ]
    assert recording.failed == ["tests still red"]
    assert moved.status == Status.pending
    assert announced == 0  # the outbox is the standard hook's, and these hooks replaced it


def test_a_store_built_without_hooks_announces_through_the_outbox(tmp_path: Path, clock: FakeClock) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'standard.db'}", clock=clock, max_attempts=1)
    try:
        incident_id = _incident(store)
        store.claim(incident_id, agent="a1")
        moved = store.report_fix(incident_id, agent="a1", outcome="failed", notes="tests still red")
        with store.read() as connection:
            kinds = connection.execute(select(outbox.c.kind)).scalars().all()
    finally:
        store.close()
    assert moved.status == Status.dead_letter  # the retry policy's answer: one attempt, spent
    assert kinds == ["dead_lettered"]
