"""Review rounds on the local forge: the PR's description across rounds, the bot's own push, merging.

Real git repositories, the real fixer, the store on both backends, and GitHub's own synchronize
payload posted to the real webhook endpoint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from fixer.forge import Forge, PullRequest
from fixer.models import Change
from fixer.pr_text import BODY_END, BODY_START
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import HealerConfig, RepoConfig, load_config
from server.errors import ReviewError
from server.fixing.forges import forge_for, local_forge_dir
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.review import local_review
from server.review.github_webhook import Translator, process_pending
from server.store import Store
from server.store.prs import StorePullRequests
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import FIXTURES, git, healer_env
from tests.fixer_repo import ADD_FIX, MUL_FIX, TEST_COMMAND, diff_for, make_calc_repo

SECRET = "It's a Secret to Everybody"
#: A change after which no test even imports: the verdict is red.
BREAKS_IMPORT = {"app/calc.py": ("def add(", "import no_such_module\n\n\ndef add(")}


class Rounds:
    def __init__(self, store: Store, tmp_path: Path, forges: Any = None) -> None:
        self.source = make_calc_repo(tmp_path / "calc")
        (tmp_path / "healer.toml").write_text(
            f'[repos.calc]\npath = "{self.source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
            'github_repo = "Codertocat/Hello-World"\n'
        )
        self.config: HealerConfig = load_config(tmp_path / "healer.toml")
        self.settings = Settings(home=tmp_path / "home", github_webhook_secret=SecretStr(SECRET))
        self.store = store
        self.fixes = FixService(store, self.config, self.settings, forges=forges)
        self.tmp = tmp_path

    def report(self) -> str:
        body = {"service": "calc", "error": "add returned -1 for 2+3", "severity": "high"}
        iid = self.store.ingest(normalize(IncidentIn.model_validate(body), self.config)).id
        rules = Triage(self.config)
        triage_received(self.store, rules.decide, approval=rules.approval)
        return iid

    @property
    def bare(self) -> Path:
        return local_forge_dir(self.settings, self.config.repo("calc"))

    def submit(self, iid: str, diff: str, summary: str, explanation: str, addresses: list[str] | None = None) -> int:
        self.store.claim(iid, agent="cline")
        outcome = self.fixes.submit(
            iid,
            FixSubmission(
                change=Change(diff=diff),
                summary=summary,
                explanation=explanation,
                addresses=addresses or [],
            ),
            agent="cline",
        )
        assert outcome.pull_request_number is not None, outcome
        return outcome.pull_request_number

    def branch_diff(self, branch: str, edits: dict[str, tuple[str, str]]) -> str:
        work = self.tmp / f"follow-up-{len(list(self.tmp.glob('follow-up-*')))}"
        git(self.tmp, "clone", "-q", "--branch", branch, str(self.bare), str(work))
        for path, (old, new) in edits.items():
            target = work / path
            target.write_text(target.read_text().replace(old, new))
        git(work, "add", "-A")
        return git(work, "diff", "--cached")

    def first_round(self) -> tuple[str, int]:
        iid = self.report()
        number = self.submit(
            iid, diff_for(self.source, ADD_FIX, self.tmp), "add adds", "add subtracted its arguments; now it adds."
        )
        local_review.review(
            self.store,
            self.config,
            self.settings,
            number,
            verdict="changes_requested",
            body="mul is off by one too",
            by="ana",
            file="app/calc.py",
            line=9,
        )
        return iid, number

    def follow_up(self, iid: str) -> int:
        return self.submit(
            iid,
            self.branch_diff(f"healer/{iid}", MUL_FIX),
            "mul multiplies",
            "mul added one to its product; it no longer does.",
            addresses=["ana on app/calc.py:9: mul is off by one too"],
        )


def test_a_review_round_keeps_the_first_fix_and_adds_the_round(store: Store, tmp_path: Path) -> None:
    rounds = Rounds(store, tmp_path)
    iid, number = rounds.first_round()
    records = StorePullRequests(store)
    first = records.get(number)
    assert first is not None
    # A person's note outside the bot's markers survives every rewrite.
    records.update(number, body=f"{first.body}\n\nNote from ana: ship it Friday.")
    assert rounds.follow_up(iid) == number

    pr = records.get(number)
    assert pr is not None
    assert pr.title == first.title == f"fix(calc): add adds [{iid}]"
    body = pr.body
    original, _, rest = body.partition("## Review rounds")
    assert "add subtracted its arguments; now it adds." in original  # the first root cause, as it was
    assert "`app/calc.py` (+1 -1)" in original
    assert "mul added one" not in original
    assert "### Round 1: mul multiplies" in rest
    assert "ana on app/calc.py:9: mul is off by one too" in rest
    assert "mul added one to its product; it no longer does." in rest
    assert "#### Verification" in rest and "passed" in rest
    assert body.count(BODY_START) == body.count(BODY_END) == 1
    assert body.count(f"<!-- healer:incident={iid} -->") == 1
    assert body.endswith("Note from ana: ship it Friday.") or "Note from ana: ship it Friday." in body

    # A second round is added under the first; nothing above it moves.
    local_review.review(
        store, rounds.config, rounds.settings, number, verdict="changes_requested", body="add a test", by="ana"
    )
    rounds.submit(
        iid,
        rounds.branch_diff(f"healer/{iid}", {"README.md": ("calc\n", "calc: add and mul\n")}),
        "say what calc does",
        "The README names the two operations.",
        addresses=["ana: add a test"],
    )
    again = records.get(number)
    assert again is not None and again.title == first.title
    assert again.body.startswith(body.split("## Review rounds")[0])
    assert again.body.index("### Round 1: mul multiplies") < again.body.index("### Round 2: say what calc does")
    assert again.body.count("Note from ana: ship it Friday.") == 1


def test_the_webhook_for_the_bots_own_push_arriving_first_is_not_a_takeover(store: Store, tmp_path: Path) -> None:
    """GitHub's synchronize webhook for the follow-up push, delivered before the fixer records the new head."""
    delivered: list[str] = []
    holder: dict[str, Any] = {}

    class WebhookFirst:
        """The real local forge; before the PR is updated (the push is done), GitHub's webhook comes in."""

        def __init__(self, inner: Forge) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def update(self, number: int, *, title: str, body: str, draft: bool) -> PullRequest:
            rounds: Rounds = holder["rounds"]
            iid = holder["iid"]
            head = git(rounds.bare, "rev-parse", f"healer/{iid}").strip()
            data = json.loads((FIXTURES / "github-webhooks/pull_request/synchronize.payload.json").read_text())
            data["number"] = data["pull_request"]["number"] = number
            data["pull_request"]["head"]["ref"] = f"healer/{iid}"
            data["pull_request"]["head"]["sha"] = data["after"] = head
            # The token's login, not the bot's name: only the commit can tell it is the bot's push.
            assert data["sender"]["login"] == "Codertocat"
            raw = json.dumps(data).encode()
            import hashlib
            import hmac

            signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            answer = holder["client"].post(
                "/github/webhook",
                content=raw,
                headers={
                    "X-GitHub-Event": "pull_request",
                    "X-GitHub-Delivery": f"push-{head}",
                    "X-Hub-Signature-256": signature,
                    "Content-Type": "application/json",
                },
            )
            assert answer.status_code == 202, answer.text
            translator = Translator(rounds.config, can_write=lambda _repo, _login: True)
            assert process_pending(store, translator, lambda _incident: None) == 1
            delivered.append(head)
            return self.inner.update(number, title=title, body=body, draft=draft)

    def forges(repo: RepoConfig) -> Forge:
        inner = forge_for(repo, rounds.settings, store)
        return WebhookFirst(inner) if holder.get("race") else inner  # type: ignore[return-value]

    rounds = Rounds(store, tmp_path, forges=forges)
    with TestClient(
        build_app(rounds.settings, rounds.config, store, run_triage=False), base_url="http://127.0.0.1"
    ) as client:
        iid, number = rounds.first_round()
        holder.update(rounds=rounds, iid=iid, client=client, race=True)
        rounds.follow_up(iid)

    assert len(delivered) == 1
    events = [e.event for e in store.timeline(iid)]
    assert "taken_over" not in events, events
    incident = store.get(iid)
    assert incident.status == Status.pr_open
    head = git(rounds.bare, "rev-parse", f"healer/{iid}").strip()
    assert head == delivered[0]
    from server.review import reviews

    assert reviews.feedback(store, iid).head_commit == head
    # A person's push after that is still a takeover.
    assert (
        reviews.apply(
            store,
            reviews.ReviewEvent(
                kind="pr_pushed", incident_id=iid, number=number, actor="github:Codertocat", head_sha="c" * 40
            ),
        )
        == "taken_over"
    )


def _healer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("state", ["draft", "red"])
def test_merge_refuses_a_draft_or_red_pull_request_unless_forced(store: Store, tmp_path: Path, state: str) -> None:
    rounds = Rounds(store, tmp_path)
    iid = rounds.report()
    # A change that leaves the tests failing: the PR opens as a draft with red tests.
    wrong = BREAKS_IMPORT if state == "red" else ADD_FIX
    number = rounds.submit(iid, diff_for(rounds.source, wrong, tmp_path), "try", "a guess at the fault")
    records = StorePullRequests(store)
    if state == "draft":  # green, but a person turned it back into a draft
        records.update(number, draft=True)
    before = git(rounds.bare, "rev-parse", "main")
    with pytest.raises(ReviewError) as refused:
        local_review.merge(store, rounds.config, rounds.settings, number, by="ana")
    message = refused.value.message
    assert f"pull request #{number} was not merged" in message and "--force" in message
    assert ("draft" in message) and (("tests are red" in message) == (state == "red"))
    pr = records.get(number)
    assert pr is not None and pr.state == "open"
    assert git(rounds.bare, "rev-parse", "main") == before
    assert store.get(iid).status == Status.pr_open

    merged = local_review.merge(store, rounds.config, rounds.settings, number, by="ana", force=True)
    assert merged.state == "merged" and store.get(iid).status == Status.merged


def test_healer_pr_merge_says_why_it_refuses(store: Store, tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    rounds = Rounds(store, tmp_path)
    (home / "healer.toml").write_text((tmp_path / "healer.toml").read_text())
    iid = rounds.report()
    wrong = BREAKS_IMPORT
    number = rounds.submit(iid, diff_for(rounds.source, wrong, tmp_path), "try", "a guess at the fault")
    env = healer_env(home, db_url)
    refused = _healer(env, "pr", "merge", str(number), "--as", "ana")
    assert refused.returncode != 0
    assert f"pull request #{number} was not merged: it is a draft" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    forced = _healer(env, "pr", "merge", str(number), "--as", "ana", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"merged #{number}" in forced.stdout


def test_rounds_with_long_test_output_stay_within_githubs_body_limit() -> None:
    """Each round adds its own test output; the oldest outputs give way before GitHub would refuse the body."""
    from fixer import pr_text
    from fixer.models import Edit, FixRequest, TestRun, Verification

    def run(text: str) -> TestRun:
        return TestRun(command="pytest -q", exit_code=0, duration_seconds=1.0, output=text)

    request = FixRequest(
        incident_id="INC-20261122-0001",
        service="calc",
        severity="high",
        title="add is wrong",
        summary="add adds",
        explanation="add subtracted its arguments",
        trace_id="t-1",
        change=Change(edits=[Edit(path="app/calc.py", old="a - b", new="a + b")]),
    )
    result = Verification(before=run("x" * 30_000), after=run("y" * 30_000), verdict="green")
    body = pr_text.body(pr_text.bot_section(request, result, [("app/calc.py", 1, 1)]), request.incident_id)
    for n in range(3):
        follow = request.model_copy(update={"summary": f"round {n}", "addresses": [f"finding {n}"]})
        section = pr_text.bot_section(follow, result, [("app/calc.py", 1, 1)], previous=body, commit=f"{n}" * 40)
        body = pr_text.body(section, request.incident_id, body)
        assert len(body) < 60_000
    assert body.count("### Round ") == 3 and "## Root cause" in body
    assert pr_text.TRIMMED in body
    assert body.rstrip().endswith("-->")  # the hidden incident marker is still there
