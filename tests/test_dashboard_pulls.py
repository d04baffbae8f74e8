"""The dashboard's pull request view, Markdown rendered safely, and sending an escalated incident to the agents.

A real fix on the local forge (real git, the real fixer and test run), the REST app in-process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixer.models import Change
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import HealerConfig, load_config
from server.fixing.models import FixSubmission
from server.fixing.submit import FixService
from server.models import Status
from server.review import local_review
from server.store import Store
from server.triage.worker import triage_received
from tests.fixer_repo import ADD_FIX, TEST_COMMAND, diff_for, make_calc_repo
from tests.test_dashboard import TOKEN, act, csrf_of, post, sign_in

HOSTILE = (
    "add is wrong <script>alert('x')</script> [click me](javascript:alert(1)) "
    '<img src=x onerror="alert(2)"> <a href="javascript:alert(3)" onclick="alert(4)">here</a> **loud**'
)


class World:
    def __init__(self, tmp_path: Path, store: Store, **settings: Any) -> None:
        self.source = make_calc_repo(tmp_path / "calc")
        self.home = tmp_path / "home"
        self.home.mkdir()
        (self.home / "healer.toml").write_text(
            f'[repos.calc]\npath = "{self.source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc"]\n'
        )
        self.config: HealerConfig = load_config(self.home / "healer.toml")
        self.settings = Settings(home=self.home, **settings)
        self.store = store
        self.tmp = tmp_path

    def client(self) -> TestClient:
        return TestClient(
            build_app(self.settings, self.config, self.store, run_triage=False), base_url="http://127.0.0.1"
        )

    def fixed(self, error: str) -> tuple[str, int]:
        from server.intake.reports import normalize
        from server.models import IncidentIn

        new = normalize(IncidentIn(service="calc", error=error, severity="high"), self.config)
        iid = self.store.ingest(new).id
        triage_received(self.store)
        self.store.claim(iid, agent="cline")
        outcome = FixService(self.store, self.config, self.settings).submit(
            iid,
            FixSubmission(
                change=Change(diff=diff_for(self.source, ADD_FIX, self.tmp)),
                summary="add adds",
                explanation="add subtracted its arguments; it now **adds** them.",
            ),
            agent="cline",
        )
        assert outcome.pull_request_number is not None
        return iid, outcome.pull_request_number


@pytest.fixture
def world(tmp_path: Path, store: Store) -> World:
    return World(tmp_path, store)


class _Elements(HTMLParser):
    """Every element a browser would build from the page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {name: value or "" for name, value in attrs}))


def _safe(html: str) -> None:
    """Nothing a browser would run: no inline script, no javascript: link, no event handler, no image."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag != "img", attrs
        assert tag != "script" or attrs.get("src", "").startswith("/static/"), attrs
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not attrs.get("href", "").strip().lower().startswith("javascript:"), (tag, attrs)
    assert any(tag == "a" for tag, _ in parser.found)


def test_the_markdown_renderer_keeps_our_html_and_drops_the_rest() -> None:
    from server.dashboard.markdown import render

    html = str(
        render(
            "**bold** <details><summary>Test output</summary>\n\n```text\n<b>out</b>\n```\n\n</details>\n\n"
            + HOSTILE
            + "\n\n<!-- healer:body:start -->\n<p style='x' onmouseover='y'>p</p>"
        )
    )
    assert "<strong>bold</strong>" in html and "<details><summary>Test output</summary>" in html
    assert "&lt;b&gt;out&lt;/b&gt;" in html  # code stays code
    assert "healer:body" not in html  # hidden markers stay hidden
    _safe(html)


def test_local_prs_link_to_the_dashboards_pull_request_view(world: World) -> None:
    iid, number = world.fixed(HOSTILE)
    local_review.review(
        world.store,
        world.config,
        world.settings,
        number,
        verdict="changes_requested",
        body="Also mul. " + HOSTILE,
        by="ana",
        file="app/calc.py",
        line=9,
    )
    with world.client() as client:
        listing = client.get("/").text
        cell = re.search(rf'<tr id="row-{iid}".*?<td data-field="pr">(.*?)</td>', listing, re.DOTALL)
        assert cell is not None and cell.group(1) == f'<a href="/ui/pulls/{number}">#{number}</a>'

        page = client.get(f"/ui/incidents/{iid}").text
        assert f'<a href="/ui/pulls/{number}">Pull request #{number}</a>' in page
        # Verification is rendered, not printed as Markdown source.
        verification = page.split('class="markdown verification">', 1)[1].split("</div>", 1)[0]
        assert "<strong>" in verification and "**" not in verification
        assert "<details><summary>Test output before" in verification
        _safe(page)

        view = client.get(f"/ui/pulls/{number}")
        assert view.status_code == 200
        html = view.text
        assert f"#{number}</span> fix(calc): add adds [{iid}]" in html
        assert "+    return a + b" in html and "-    return a - b" in html  # the diff
        assert "<h3>Verification</h3>" in html and "<details><summary>" in html
        assert "<strong>ana</strong>: changes_requested" in html  # the verdict
        assert "app/calc.py:9" in html  # the open finding
        assert "Also mul." in html  # the comment, rendered
        assert "healer:body" not in html and "healer:incident" not in html
        assert view.headers["content-security-policy"].startswith("default-src 'self'")
        _safe(html)

        missing = client.get("/ui/pulls/999")
        assert missing.status_code == 404 and "local pull request #999 does not exist" in missing.text
        assert client.get("/ui/pulls/nope").status_code == 422


def test_the_pull_request_view_is_behind_the_sign_in(tmp_path: Path, store: Store) -> None:
    world = World(tmp_path, store, api_token=TOKEN)
    _, number = world.fixed("add returned -1 for 2+3")
    with world.client() as client:
        bounced = client.get(f"/ui/pulls/{number}", headers={"accept": "text/html"}, follow_redirects=False)
        assert bounced.status_code == 303 and bounced.headers["location"] == f"/login?next=%2Fui%2Fpulls%2F{number}"
        assert client.get(f"/ui/pulls/{number}").status_code == 401
        csrf = csrf_of(client.get("/login").text)
        client.post("/login", data={"name": "ana", "token": TOKEN, "csrf": csrf}, follow_redirects=False)
        assert client.get(f"/ui/pulls/{number}").status_code == 200


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with world.client() as test_client:
        yield test_client


def test_an_escalated_incident_can_be_sent_to_the_agents(client: TestClient, store: Store) -> None:
    iid = post(client, service="calc", error=HOSTILE)
    triage_received(store)
    sign_in(client, "Ana")
    act(client, iid, "escalate", "looking at it")
    page = client.get(f"/ui/incidents/{iid}").text
    assert "Send to agents" in page and 'value="resolve"' in page
    # The escalated incident has a postmortem; the report's text in it is rendered, and harmless.
    postmortem = page.split('class="markdown postmortem">', 1)[1].split("</div>", 1)[0]
    assert "<h1>Postmortem" in postmortem and "<blockquote>" in postmortem
    _safe(page)

    after = act(client, iid, "send_to_agents", "the DBA fixed the pool; try again")
    assert "Sent to the agents: the incident is now pending." in after
    incident = store.get(iid)
    assert incident.status == Status.pending and incident.attempts == 0
    last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert (last["actor"], last["event"], last["detail"]["why"]) == (
        "human:Ana",
        "sent_to_agents",
        "the DBA fixed the pool; try again",
    )


def test_without_a_repository_there_is_nothing_to_send_to_the_agents(client: TestClient, store: Store) -> None:
    iid = post(client, service="unmapped", error="disk full")
    triage_received(store)
    assert store.get(iid).repo is None  # no repository maps the service
    if store.get(iid).status != Status.escalated:
        store.transition(iid, Status.escalated, actor="human:bo")
    sign_in(client, "Ana")
    page = client.get(f"/ui/incidents/{iid}").text
    assert 'value="resolve"' in page and 'value="send_to_agents"' not in page
    done = client.post(
        f"/ui/incidents/{iid}/actions",
        data={"action": "send_to_agents", "csrf": csrf_of(page)},
        follow_redirects=True,
    )
    assert "has no repository, so no agent can fix it" in done.text
    assert store.get(iid).status == Status.escalated
