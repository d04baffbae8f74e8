"""The in-process triage worker gives way to intake: how long it pauses after a round, by intake's load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from server.triage.worker import MAX_PAUSE, SATURATED_BATCH, pause_after


def test_triage_runs_straight_on_while_intake_is_quiet() -> None:
    assert pause_after(0.2, intake_load=0) == 0.0


def test_triage_takes_a_quarter_of_the_time_while_intake_is_busy() -> None:
    pause = pause_after(0.2, intake_load=1)
    assert 0.2 / (0.2 + pause) == pytest.approx(0.25)


def test_triage_takes_a_fiftieth_while_requests_queue_behind_each_commit() -> None:
    pause = pause_after(0.01, intake_load=SATURATED_BATCH)
    assert 0.01 / (0.01 + pause) == pytest.approx(0.02)


def test_triage_never_waits_longer_than_a_second_between_rounds() -> None:
    # A critical incident posted mid-storm is taken by the next round (worst first), so that
    # round must come soon, however long the last one took.
    assert pause_after(0.2, intake_load=SATURATED_BATCH) == MAX_PAUSE == 1.0


def test_the_committer_reports_how_many_writes_its_last_commit_carried(tmp_path: Path) -> None:
    from server.config import HealerConfig
    from server.intake.reports import normalize
    from server.models import IncidentIn
    from server.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'healer.db'}")
    assert store.committer.load() == 0  # nothing asked for yet

    async def burst() -> None:
        reports = [IncidentIn(service="payments", error=f"fault {i}", fingerprint=f"f{i}") for i in range(12)]
        await asyncio.gather(*(store.ingest_grouped(normalize(r, HealerConfig())) for r in reports))

    asyncio.run(burst())
    assert store.committer.load() == 12
    assert store.committer.load(within=0.0) == 0  # quiet again once the window has passed
    store.close()
