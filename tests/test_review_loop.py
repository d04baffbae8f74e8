"""The review loop on the local forge: review rounds, follow-ups, merge, verification and the postmortem.

Real git repositories and the real fixer; the store on both backends; time moved by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fixer.models import Change
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.fixing.forges import local_forge_dir
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.review import local_review, reviews
from server.review.postmortem import render, require
from server.review.worker import ReviewWorker
from server.store import Store
from server.store.prs import StorePullRequests
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import FakeClock, git
from tests.fixer_repo import ADD_FIX, MUL_FIX, TEST_COMMAND, diff_for, make_calc_repo


class Loop:
    def __init__(self, store: Store, tmp_path: Path, extra: str = "") -> None:
        self.source = make_calc_repo(tmp_path / "calc")
        (tmp_path / "healer.toml").write_text(
            f'[repos.calc]\npath = "{self.source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n' + extra
        )
        self.config: HealerConfig = load_config(tmp_path / "healer.toml")
        self.settings = Settings(home=tmp_path / "home")
        self.store = store
        self.fixes = FixService(store, self.config, self.settings)
        self.worker = ReviewWorker(store, self.config, self.settings)
        self.tmp = tmp_path

    def report(self, **fields: object) -> str:
        body: dict[str, object] = {"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"}
        body.update(fields)
        iid = self.store.ingest(normalize(IncidentIn.model_validate(body), self.config)).id
        rules = Triage(self.config)
        triage_received(self.store, rules.decide, approval=rules.approval)
        return iid

    def fix(self, iid: str, edits: dict[str, tuple[str, str]], *, addresses: list[str] | None = None) -> int:
        self.store.claim(iid, agent="cline")
        # A follow-up is written against the PR branch, as get_repository_context shows it.
        base = self.source
        pr = self.store.get(iid).pull_request
        if pr is not None and pr.branch:
            base = local_forge_dir(self.settings, self.config.repo("calc"))
        diff = diff_for(base, edits, self.tmp) if pr is None else self._branch_diff(base, pr.branch or "", edits)
        outcome = self.fixes.submit(
            iid,
            FixSubmission(
                change=Change(diff=diff),
                summary="fix calc",
                explanation="add subtracted its arguments; the fix makes it add them.",
                addresses=addresses or [],
            ),
            agent="cline",
        )
        assert outcome.pull_request_number is not None, outcome
        return outcome.pull_request_number

    def _branch_diff(self, bare: Path, branch: str, edits: dict[str, tuple[str, str]]) -> str:
        work = self.tmp / f"follow-up-{len(list(self.tmp.glob('follow-up-*')))}"
        git(self.tmp, "clone", "-q", "--branch", branch, str(bare), str(work))
        for path, (old, new) in edits.items():
            target = work / path
            target.write_text(target.read_text().replace(old, new))
        git(work, "add", "-A")
        return git(work, "diff", "--cached")

    def events(self, iid: str) -> list[str]:
        return [e.event for e in self.store.timeline(iid)]


@pytest.fixture
def loop(store: Store, tmp_path: Path) -> Loop:
    return Loop(store, tmp_path, "[verification]\nquiet_minutes = 30\n")


def test_a_review_round_then_merge_then_a_quiet_window_verifies(loop: Loop, clock: FakeClock) -> None:
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    assert loop.store.get(iid).status == Status.pr_open

    outcome = local_review.review(
        loop.store,
        loop.config,
        loop.settings,
        number,
        verdict="changes_requested",
        body="mul is off by one as well; fix it in the same PR",
        by="ana",
        file="app/calc.py",
        line=9,
    )
    assert outcome == "changes_requested"
    incident = loop.store.get(iid)
    assert incident.status == Status.changes_requested
    feedback = reviews.feedback(loop.store, iid)
    assert [(f.author, f.file, f.line) for f in feedback.findings] == [("ana", "app/calc.py", 9)]
    assert "mul is off by one" in feedback.findings[0].body
    assert feedback.verdicts[0].state == "changes_requested" and not feedback.verdicts[0].stale
    assert "submit_fix" in feedback.next_steps

    # The incident is claimable follow-up work; the follow-up goes to the same PR as a second commit.
    assert iid in [i.id for i in loop.store.pending().items]
    again = loop.fix(iid, MUL_FIX, addresses=["ana on app/calc.py:9: mul is off by one"])
    assert again == number
    records = StorePullRequests(loop.store)
    pr = records.get(number)
    assert pr is not None and pr.state == "open"
    bare = local_forge_dir(loop.settings, loop.config.repo("calc"))
    assert git(bare, "rev-list", "--count", f"main..{pr.head}").strip() == "2"
    assert any("addresses:" in c.body and "mul is off by one" in c.body for c in records.comments(number))
    feedback = reviews.feedback(loop.store, iid)
    assert feedback.verdicts[0].stale, "the verdict was on the first commit"
    assert feedback.head_commit == pr.head_sha and feedback.head_commit != feedback.verdicts[0].commit

    assert (
        local_review.review(loop.store, loop.config, loop.settings, number, verdict="approved", body="", by="ana")
        == "approved"
    )
    local_review.merge(loop.store, loop.config, loop.settings, number, by="ana")
    assert loop.store.get(iid).status == Status.merged
    assert render(loop.store, iid) is None  # not verified yet

    clock.advance(minutes=29)
    assert loop.worker.step()[1] == []
    clock.advance(minutes=2)
    moved = loop.worker.step()[1]
    assert [(m.incident_id, m.to) for m in moved] == [(iid, Status.verified)]
    assert loop.store.get(iid).status == Status.verified

    text = require(loop.store, iid)
    assert f"# Postmortem: {iid}" in text
    assert "Rounds with changes requested: 1" in text and "Follow-up commits: 1" in text
    assert "add subtracted its arguments" in text  # the agent's root cause
    assert "no occurrence in the 30 min after the merge" in text
    assert "| merge (PR opened -> merged) |" in text
    assert text.count("- Commit `") == 2


def test_a_repeat_inside_the_window_regresses_and_reopens_the_incident(loop: Loop, clock: FakeClock) -> None:
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    local_review.merge(loop.store, loop.config, loop.settings, number, by="ana")
    clock.advance(minutes=5)
    repeat = loop.store.ingest(normalize(IncidentIn(service="calc", error="add returned -1 for 2+3"), loop.config))
    assert repeat.id == iid and repeat.duplicate
    moved = loop.worker.step()[1]
    assert [(m.incident_id, m.to) for m in moved] == [(iid, Status.pending)]
    incident = loop.store.get(iid)
    assert incident.status == Status.pending and incident.pull_request and incident.pull_request.number == number
    assert loop.events(iid)[-2:] == ["regressed", "reopened"]
    comments = StorePullRequests(loop.store).comments(number)
    assert any("regressed" in c.body and iid in c.body for c in comments)
    # Nothing moves twice.
    assert loop.worker.step()[1] == []


def test_the_monitor_saying_resolved_verifies_before_the_window_ends(loop: Loop, clock: FakeClock) -> None:
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    local_review.merge(loop.store, loop.config, loop.settings, number, by="ana")
    clock.advance(minutes=1)
    from sqlalchemy import update

    from server.store.schema import incidents

    with loop.store.write() as connection:  # what server.intake.alerts records on a "resolved" alert after a merge
        connection.execute(update(incidents).values(source_resolved_at=clock.now()))
    moved = loop.worker.step()[1]
    assert [(m.to, m.why) for m in moved] == [
        (Status.verified, "the monitor reported the alert resolved after the merge")
    ]


def test_quiet_window_is_per_service(store: Store, tmp_path: Path, clock: FakeClock) -> None:
    loop = Loop(store, tmp_path, "[verification]\nquiet_minutes = 30\n[verification.services]\ncalc = 5\n")
    iid = loop.report()
    local_review.merge(loop.store, loop.config, loop.settings, loop.fix(iid, ADD_FIX), by="ana")
    clock.advance(minutes=6)
    assert [m.to for m in loop.worker.step()[1]] == [Status.verified]


def test_a_closed_pr_waits_for_new_evidence(loop: Loop, clock: FakeClock) -> None:
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    local_review.close(loop.store, loop.config, loop.settings, number, by="ana")
    assert loop.store.get(iid).status == Status.fix_rejected
    clock.advance(hours=5)
    assert loop.worker.step()[1] == []  # time alone is no new evidence
    assert loop.store.get(iid).status == Status.fix_rejected
    loop.store.ingest(normalize(IncidentIn(service="calc", error="add returned -1 for 2+3"), loop.config))
    moved = loop.worker.step()[1]
    assert [(m.incident_id, m.to) for m in moved] == [(iid, Status.pending)]
    assert "new_evidence" in loop.events(iid)


def test_local_commands_and_refusals(loop: Loop) -> None:
    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    with pytest.raises(Exception, match="say what should change"):
        local_review.review(
            loop.store, loop.config, loop.settings, number, verdict="changes_requested", body=" ", by="ana"
        )
    with pytest.raises(Exception, match="--line needs --file"):
        local_review.review(
            loop.store, loop.config, loop.settings, number, verdict="commented", body="x", by="a", line=3
        )
    assert loop.store.get(iid).status == Status.pr_open  # refused input changed nothing
    assert local_review.comment(loop.store, loop.config, loop.settings, number, body="looks fine", by="ana") == (
        "comment recorded"
    )
    assert local_review.comment(loop.store, loop.config, loop.settings, number, body="/healer stop", by="ana") == (
        "command stop"
    )
    assert loop.store.get(iid).status == Status.escalated
    text = require(loop.store, iid)  # escalated incidents get a postmortem too
    assert "Escalated" in text and "human:ana" in text
    assert local_review.comment(loop.store, loop.config, loop.settings, number, body="/healer explain", by="ana") == (
        "command explain"
    )
    explained = StorePullRequests(loop.store).comments(number)[-1]
    assert explained.author == "devops-healer[bot]" and iid in explained.body


def test_postmortem_quotes_incident_text_instead_of_rendering_it(loop: Loop, clock: FakeClock) -> None:
    iid = loop.report(error="boom\n# Injected heading\n<script>alert(1)</script>")
    local_review.merge(loop.store, loop.config, loop.settings, loop.fix(iid, ADD_FIX), by="ana")
    clock.advance(hours=1)
    loop.worker.step()
    text = require(loop.store, iid)
    assert "\n# Injected heading" not in text and "> # Injected heading" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_a_follow_up_that_breaks_nothing_keeps_the_pr_ready_but_a_first_fix_must_improve() -> None:
    from fixer.models import TestRun
    from fixer.verify import verification

    def run(*failed: str) -> TestRun:
        return TestRun(command="t", exit_code=1, duration_seconds=0.1, output="", failed_tests=list(failed))

    assert verification(run("a", "b"), run("a", "b"), follow_up=True).verified
    assert not verification(run("a", "b"), run("a", "b")).verified
    assert not verification(run("a"), run("a", "c"), follow_up=True).verified  # a newly failing test
    assert verification(run("a", "b"), run("a")).verdict == "improved"


def test_a_person_who_pushes_to_the_bots_branch_owns_it(loop: Loop) -> None:
    from fixer.errors import BranchTakenOver

    iid = loop.report()
    number = loop.fix(iid, ADD_FIX)
    bare = local_forge_dir(loop.settings, loop.config.repo("calc"))
    work = loop.tmp / "person"
    git(loop.tmp, "clone", "-q", "--branch", f"healer/{iid}", str(bare), str(work))
    (work / "NOTES.md").write_text("taking this over\n")
    git(work, "add", "-A")
    git(work, "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "commit", "-qm", "mine now")
    git(work, "push", "-q", "origin", f"HEAD:healer/{iid}")
    head = git(bare, "rev-parse", f"healer/{iid}").strip()
    local_review.review(
        loop.store, loop.config, loop.settings, number, verdict="changes_requested", body="mul too", by="ana"
    )
    with pytest.raises(BranchTakenOver, match=r"dev@example\.com"):
        loop.fix(iid, MUL_FIX)
    assert git(bare, "rev-parse", f"healer/{iid}").strip() == head  # the bot did not push over the person
    incident = loop.store.get(iid)
    assert incident.status == Status.escalated and incident.attempts == 0
    assert loop.events(iid)[-1] == "taken_over"
    assert any(
        "no longer push" in c.body or "will not push" in c.body for c in StorePullRequests(loop.store).comments(number)
    )
