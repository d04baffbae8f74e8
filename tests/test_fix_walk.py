"""One fix submission's walk through the layers: down to the fixer and the store, back up once.

Real git repository, real fixer and local forge, a real SQLite file; ``tests.walk`` records which of
our modules call which while ``FixService.submit`` (and an approval's ``answer_as``) runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixer.models import Change, Edit
from server.approvals.answers import answer_as
from server.approvals.people import Person, Verification
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from tests.fixer_repo import ADD_FIX, TEST_COMMAND, diff_for, make_calc_repo
from tests.walk import Walk, walk_of

#: The store's own climbs, below any use case: a move asks the lifecycle table and queues its announcement.
STORE_CLIMBS = {("server.store.writes", "server.lifecycle"), ("server.store.writes", "server.notify.outbox")}


def calc(tmp_path: Path) -> tuple[Store, HealerConfig, Settings, Path]:
    source = make_calc_repo(tmp_path / "calc")
    (tmp_path / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
        '[routing.approval]\nusers = ["ana"]\n'
    )
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    return store, load_config(tmp_path / "healer.toml"), Settings(home=tmp_path / "home"), source


def claimed(store: Store, config: HealerConfig) -> str:
    iid = store.ingest(normalize(IncidentIn(service="calc", error="add returned -1", severity="high"), config)).id
    store.transition(iid, Status.pending, actor="system")
    store.claim(iid, agent="cline")
    return iid


def test_a_submission_goes_down_and_comes_back_once(tmp_path: Path) -> None:
    store, config, settings, source = calc(tmp_path)
    iid = claimed(store, config)
    change = Change(diff=diff_for(source, ADD_FIX, tmp_path))
    submission = FixSubmission(change=change, summary="add adds", explanation="add subtracted its arguments.")
    outcomes = []
    walk = walk_of(lambda: outcomes.append(FixService(store, config, settings).submit(iid, submission, agent="cline")))
    assert outcomes[0].status == Status.pr_open
    # The fixer no longer calls back into server.fixing.submit before it pushes: it is handed the store's recorder.
    assert set(walk.climbs) <= STORE_CLIMBS, walk.summary()
    assert [event.event for event in store.timeline(iid)][-3:] == ["fix_started", "pushing", "pr_opened"]
    store.close()


def test_a_held_fix_and_its_approval_never_climb_back_into_fixes(tmp_path: Path) -> None:
    store, config, settings, _ = calc(tmp_path)
    iid = claimed(store, config)
    change = Change(edits=[Edit(path="app/auth/keys.py", create="A = 1\n")])  # auth: a person approves it
    submission = FixSubmission(change=change, summary="set a", explanation="a needs a value")
    held: Walk = walk_of(lambda: FixService(store, config, settings).submit(iid, submission, agent="cline"))
    assert store.get(iid).status == Status.awaiting_approval
    assert set(held.climbs) <= STORE_CLIMBS, held.summary()
    ana = Person(login="ana", verified_by=Verification.token)
    answered: Walk = walk_of(lambda: answer_as(store, config, settings, iid, ana, approve=True))
    assert store.get(iid).status == Status.pr_open
    assert set(answered.climbs) <= STORE_CLIMBS, answered.summary()
    assert not any(
        callee == "server.fixing.submit" for caller, callee in answered.calls if caller == "server.approvals.records"
    )
    store.close()


@pytest.mark.parametrize(
    ("module", "rank"),
    [
        ("server.api.fixes", 5),  # a face
        ("tools.fixes", 5),  # the MCP face
        ("server.fixing.submit", 4),  # a use case
        ("server.approvals.policy", 3),  # domain: the pure decisions
        ("server.store.writes", 2),  # the store
        ("fixer.pipeline", 2),  # the fixer, handed what it calls
        ("fixer.models", 1),  # its data types are plumbing, like server.models
        ("server.common.redact", 1),  # plumbing
    ],
)
def test_layers(module: str, rank: int) -> None:
    from tests.walk import layer

    assert layer(module) == rank
