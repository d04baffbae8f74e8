"""The dashboard's pages over the REST app in-process: list filters, sort, pages and search, the incident
page, actions with CSRF, and sign-in with the API token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import FakeClock, person_toml

TOKEN = "s3cret-token-for-tests"


def make_client(home: Path, store: Store, **settings: Any) -> TestClient:
    config = load_config(home / "healer.toml")
    return TestClient(
        build_app(Settings(home=home, **settings), config, store, run_triage=False), base_url="http://127.0.0.1"
    )


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    with make_client(healer_home, store) as test_client:
        yield test_client


def post(client: TestClient, **body: Any) -> str:
    answer = client.post("/incidents", json={"severity": "high", **body})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="row-(INC-[0-9-]+)"', html)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def test_the_list_shows_posted_incidents_newest_first(client: TestClient) -> None:
    first = post(client, service="payments", error="pool exhausted")
    second = post(client, service="search", error="index missing", severity="critical")
    page = client.get("/")
    assert page.status_code == 200
    assert row_ids(page.text) == [second, first]
    assert "index missing" in page.text and "critical" in page.text
    # Status as text and icon, age as relative time with the UTC time in a <time> element.
    assert '<span class="status-text">Received</span>' in page.text and 'use href="#i-new"' in page.text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[0-9:.]+Z" title="[0-9: -]+UTC" data-ago>', page.text)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("service=search", ["search-critical"]),  # one service
        ("severity=critical", ["search-critical"]),
        ("severity=low&severity=critical", ["search-critical", "payments-low"]),  # any of several
        ("status=monitoring", ["payments-low"]),  # low severity is watched by the default route
        ("stage=triaged", ["search-critical", "payments-low", "payments-high"]),  # pending and monitoring
        ("stage=stuck", []),
        ("q=POOL", ["payments-high"]),  # case-insensitive search in the title and error
        ("q=100%25", ["payments-low"]),  # % is a literal, not a wildcard
        ("q=no-such-text", []),
        ("status=pending&stage=stuck", []),  # both given: statuses in both
        ("status=bogus", ["search-critical", "payments-low", "payments-high"]),  # unknown values are dropped
    ],
)
def test_filters_and_search(client: TestClient, query: str, expected: list[str]) -> None:
    names = {
        "payments-high": post(client, service="payments", error="pool exhausted", severity="high"),
        "payments-low": post(client, service="payments", error="disk 100% full", severity="low"),
        "search-critical": post(client, service="search", error="index missing", severity="critical"),
    }
    triage_received(client.app.state.healer.store)  # type: ignore[attr-defined]
    by_id = {value: key for key, value in names.items()}
    assert [by_id[i] for i in row_ids(client.get(f"/?{query}").text)] == expected


def test_pages_walk_every_incident_once_in_each_sort(client: TestClient) -> None:
    severities = ["low", "medium", "high", "critical"]
    made = [
        post(client, service=f"svc{n % 3}", error="fault", severity=severities[n % 4], fingerprint=f"f{n}")
        for n in range(60)
    ]
    for sort in ("newest", "oldest", "last_seen", "severity"):
        seen: list[str] = []
        url: str | None = f"/?sort={sort}&limit=25"
        while url:
            html = client.get(url).text
            seen += row_ids(html)
            found = re.search(r'<a href="([^"]+)" rel="next">', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert sorted(seen) == sorted(made) and len(seen) == len(made), sort
    first = row_ids(client.get("/?limit=25").text)
    assert first == list(reversed(made))[:25]


def test_keyset_pages_in_severity_order(client: TestClient) -> None:
    made = {
        sev: [post(client, service="s", error="e", severity=sev, fingerprint=f"{sev}{n}") for n in range(10)]
        for sev in ("low", "critical", "medium", "high")
    }
    seen: list[str] = []
    url: str | None = "/?sort=severity&limit=25"
    while url:
        html = client.get(url).text
        seen += row_ids(html)
        found = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    expected = [i for sev in ("critical", "high", "medium", "low") for i in reversed(made[sev])]
    assert seen == expected


def test_the_incident_page_shows_the_report_redacted_and_the_timeline(client: TestClient) -> None:
    iid = post(
        client,
        service="payments",
        error="pool exhausted",
        log="ERROR connecting with password=hunter22\nTraceback (most recent call last):\n"
        '  File "app/db.py", line 40, in connect\nRuntimeError: pool exhausted',
    )
    triage_received(client.app.state.healer.store)  # type: ignore[attr-defined]
    page = client.get(f"/ui/incidents/{iid}")
    assert page.status_code == 200
    text = page.text
    assert "hunter22" not in text and "[REDACTED:password]" in text
    assert "app/db.py" in text  # the stack frame
    assert 'role="img"' in text and "<svg" in text  # the occurrences chart
    assert text.count('class="timeline"') == 1
    for event in ("received", "triaged", "pending"):
        assert f'<strong class="event">{event}</strong>' in text
    assert "No pull request yet." in text
    assert client.get("/ui/incidents/INC-20000101-9999").status_code == 404


def test_text_from_the_failing_system_is_escaped(client: TestClient) -> None:
    iid = post(client, service="payments", error="<script>alert(1)</script>", title="<img src=x onerror=alert(1)>")
    for url in ("/", f"/ui/incidents/{iid}"):
        html = client.get(url).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;img src=x" in html


def test_a_person_resolves_an_incident_and_the_timeline_names_them(client: TestClient) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(client.app.state.healer.store)  # type: ignore[attr-defined]
    csrf = csrf_of(client.get("/login").text)
    signed = client.post("/login", data={"name": "Ana", "csrf": csrf, "next": "/"}, follow_redirects=False)
    assert signed.status_code == 303
    page = client.get(f"/ui/incidents/{iid}").text
    assert 'value="resolve"' in page and 'value="approve"' not in page  # only what the state allows
    done = client.post(
        f"/ui/incidents/{iid}/actions",
        data={"action": "resolve", "reason": "fixed by hand", "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ui/incidents/{iid}"
    after = client.get(f"/ui/incidents/{iid}").text
    assert "Resolved: the incident is now resolved." in after  # the flash message
    incident = client.get(f"/incidents/{iid}").json()
    last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert incident["status"] == "resolved"
    assert (last["actor"], last["event"], last["detail"]["why"]) == ("human:Ana", "resolved", "fixed by hand")


APPROVAL = """
[routing.approval]
users = ["Ana"]

[[routing.rules]]
name = "payments needs a yes"
match = ['service="payments"']
route = "approval"
"""


def strip_tags(markup: str) -> str:
    return re.sub(r"<[^>]+>", "", markup).strip()


@pytest.mark.parametrize(
    ("needs_approval", "expected"),
    [
        # Awaiting approval: each of the three forms' reason fields is named for its own action.
        (
            True,
            [
                ("reason-approve", "Reason for approving (optional)"),
                ("reason-deny", "Reason for denying (optional)"),
                ("reason-resolve", "Reason for resolving (optional)"),
            ],
        ),
        # Waiting for an agent: escalate and resolve.
        (
            False,
            [
                ("reason-escalate", "Reason for escalating (optional)"),
                ("reason-resolve", "Reason for resolving (optional)"),
            ],
        ),
    ],
)
def test_each_reason_field_is_labelled_for_its_action(
    healer_home: Path, store: Store, needs_approval: bool, expected: list[tuple[str, str]]
) -> None:
    if needs_approval:
        with (healer_home / "healer.toml").open("a") as config:
            config.write(APPROVAL)
    with make_client(healer_home, store) as client:
        iid = post(client, service="payments", error="refund doubled")
        rules = Triage(load_config(healer_home / "healer.toml"))
        triage_received(store, rules.decide, approval=rules.approval)
        html = client.get(f"/ui/incidents/{iid}").text
    labels = [(target, strip_tags(text)) for target, text in re.findall(r'<label for="([^"]+)">(.*?)</label>', html)]
    assert labels == expected
    for target, _ in labels:  # each label names exactly one field, and it is that form's reason
        assert re.findall(rf'<(\w+) id="{target}"', html) == ["input"]


@pytest.mark.parametrize(
    ("later", "axis_end", "bar"),
    [
        ({}, "11-22 09:00", "11-22 09:00"),  # just reported: the axis ends at the report
        ({"minutes": 5}, "11-22 09:05", "11-22 09:00"),  # it used to end at 09:12, twelve minutes after the first
        ({"hours": 3}, "11-22 12:00", "11-22 09:00"),  # five-minute bars
        ({"days": 3}, "11-25 09:00", "11-22 06:00"),  # six-hour bars
    ],
)
def test_the_occurrences_chart_ends_now(
    client: TestClient, clock: FakeClock, later: dict[str, float], axis_end: str, bar: str
) -> None:
    iid = post(client, service="payments", error="pool exhausted")  # at 2026-11-22 09:00, the frozen clock
    clock.advance(**later)
    html = client.get(f"/ui/incidents/{iid}").text
    found = re.search(r'<svg class="chart".*?</svg>', html, re.DOTALL)
    assert found, "the page has no occurrences chart"
    chart = found.group(0)
    assert re.findall(r"<text [^>]*>([^<]*)</text>", chart)[-1] == f"{axis_end} UTC"
    assert f" to 2026-{axis_end} UTC" in chart  # the description read out says the same
    assert re.findall(r"<title>(\d+) at 2026-([0-9: -]+) UTC</title>", chart) == [("1", bar)]
    # The one report is in the bucket holding now (or, for a short history, before it), never after.
    xs = [float(x) for x in re.findall(r'<rect x="([0-9.]+)"', chart)]
    assert len(xs) == 1 and (not later or xs[0] < 480 - 480 / 48)


def sign_in(client: TestClient, name: str, secret: str = "") -> None:
    csrf = csrf_of(client.get("/login").text)
    data = {"name": name, "token": secret, "csrf": csrf, "next": "/"}
    signed = client.post("/login", data=data, follow_redirects=False)
    assert signed.status_code == 303, signed.text


def act(client: TestClient, iid: str, action: str, reason: str) -> str:
    """Press ``action``'s button on the incident's page; returns the page it lands on."""
    page = client.get(f"/ui/incidents/{iid}").text
    assert f'value="{action}"' in page, f"the page does not offer {action}"
    done = client.post(
        f"/ui/incidents/{iid}/actions",
        data={"action": action, "reason": reason, "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/ui/incidents/{iid}", done.text
    return client.get(f"/ui/incidents/{iid}").text


def test_a_person_escalates_an_incident_and_the_timeline_names_them(client: TestClient, store: Store) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(store)
    assert store.get(iid).status == Status.pending
    sign_in(client, "Ana")
    after = act(client, iid, "escalate", "needs a DBA")
    assert "Escalated: the incident is now escalated." in after
    assert store.get(iid).status == Status.escalated
    last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert (last["actor"], last["event"], last["detail"]["by"], last["detail"]["why"]) == (
        "human:Ana",
        "escalated",
        "Ana",
        "needs a DBA",
    )


def test_a_person_denies_an_approval_and_the_timeline_names_them(healer_home: Path, store: Store) -> None:
    with (healer_home / "healer.toml").open("a") as config:
        config.write(APPROVAL + person_toml("Ana", "ana-person-token"))
    with make_client(healer_home, store) as client:
        iid = post(client, service="payments", error="refund doubled")
        rules = Triage(load_config(healer_home / "healer.toml"))
        triage_received(store, rules.decide, approval=rules.approval)
        assert store.get(iid).status == Status.awaiting_approval
        sign_in(client, "Ana", "ana-person-token")
        after = act(client, iid, "deny", "not during the freeze")
        assert "Denied: the incident is now escalated." in after
        assert store.get(iid).status == Status.escalated
        last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert (last["actor"], last["event"], last["detail"]["reason"], last["detail"]["verified_by"]) == (
        "human:Ana",
        "denied",
        "not during the freeze",
        "dashboard_session",
    )


def test_a_person_retries_from_the_dead_letter_queue_and_the_timeline_names_them(
    client: TestClient, store: Store
) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    triage_received(store)
    store.claim(iid, agent="cline")
    store.transition(iid, Status.dead_letter, actor="agent:cline", updates={"attempts": 3})
    sign_in(client, "Ana")
    after = act(client, iid, "retry", "")
    assert "Sent back to the agents: the incident is now pending." in after
    incident = store.get(iid)
    assert (incident.status, incident.attempts) == (Status.pending, 0)
    last = client.get(f"/incidents/{iid}/timeline").json()[-1]
    assert (last["actor"], last["event"], last["detail"]["by"]) == ("human:Ana", "retried", "Ana")


@pytest.mark.parametrize(
    "csrf",
    [
        None,  # no token at all: a form posted from another site
        "0" * 64,  # a made-up token
    ],
)
def test_an_action_without_the_right_csrf_token_is_refused(client: TestClient, csrf: str | None) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    client.get("/")  # gets a session cookie
    data = {"action": "resolve"} | ({"csrf": csrf} if csrf else {})
    refused = client.post(f"/ui/incidents/{iid}/actions", data=data, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert client.get(f"/incidents/{iid}").json()["status"] == "received"


def test_a_refused_action_says_why(client: TestClient) -> None:
    iid = post(client, service="payments", error="pool exhausted")
    page = client.get(f"/ui/incidents/{iid}").text
    answer = client.post(f"/ui/incidents/{iid}/actions", data={"action": "retry", "csrf": csrf_of(page)})
    assert answer.status_code == 200 and "Refused:" in answer.text and "is received" in answer.text


def test_with_a_token_the_dashboard_needs_a_sign_in(healer_home: Path, store: Store) -> None:
    with make_client(healer_home, store, api_token=TOKEN) as client:
        bounced = client.get("/?stage=stuck", headers={"accept": "text/html"}, follow_redirects=False)
        assert bounced.status_code == 303 and bounced.headers["location"] == "/login?next=%2F%3Fstage%3Dstuck"
        assert client.get("/events").status_code == 401  # not a browser: 401, not a redirect
        form = client.get("/login")
        assert form.status_code == 200 and 'name="token"' in form.text
        csrf = csrf_of(form.text)
        wrong = client.post("/login", data={"name": "ana", "token": "nope", "csrf": csrf}, follow_redirects=False)
        assert wrong.status_code == 401 and "not the API token" in wrong.text
        right = client.post(
            "/login",
            data={"name": "ana", "token": TOKEN, "csrf": csrf, "next": "/?stage=stuck"},
            follow_redirects=False,
        )
        assert right.status_code == 303 and right.headers["location"] == "/?stage=stuck"
        cookie = right.headers["set-cookie"]
        assert cookie.startswith("healer_session=")
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert client.get("/").status_code == 200
        assert "Signed in as <strong>ana</strong>" in client.get("/").text
        # The cookie opens the pages, not the API: that still wants the bearer token.
        assert client.get("/incidents").status_code == 401
        assert client.get("/incidents", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/static/dashboard.js").status_code == 200  # open: the sign-in page needs it


def test_a_session_signed_with_another_token_is_not_accepted(healer_home: Path, store: Store) -> None:
    with make_client(healer_home, store, api_token=TOKEN) as first:
        csrf = csrf_of(first.get("/login").text)
        first.post("/login", data={"name": "ana", "token": TOKEN, "csrf": csrf})
        cookie = first.cookies.get("healer_session")
    assert cookie
    with make_client(healer_home, store, api_token="another-token-entirely") as second:
        second.cookies.set("healer_session", cookie)
        assert second.get("/", follow_redirects=False).status_code == 401


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example"],  # never an open redirect
)
def test_sign_in_only_returns_to_this_server(client: TestClient, target: str) -> None:
    csrf = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"name": "ana", "csrf": csrf, "next": target}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_the_overview_counts_states_and_lists_what_is_stuck(client: TestClient, store: Store) -> None:
    ids = [post(client, service="payments", error="fault", fingerprint=f"f{n}") for n in range(3)]
    triage_received(store)
    store.transition(ids[0], Status.escalated, actor="human:ana")
    page = client.get("/ui/overview").text
    assert re.search(r'data-stage-count="triaged">2<', page)
    assert re.search(r'data-stage-count="stuck">1<', page)
    assert f'href="/ui/incidents/{ids[0]}"' in page and f'href="/ui/incidents/{ids[1]}"' not in page
    assert "payments" in page  # the busiest service


def test_pages_carry_a_strict_content_security_policy(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert client.get("/static/nope.js").status_code == 404


def test_store_rows_make_the_page_not_the_other_way(store: Store, healer_home: Path) -> None:
    """A second app on the same store (another replica) shows what the first stored."""
    config = load_config(healer_home / "healer.toml")
    store.ingest(normalize(IncidentIn(service="payments", error="from elsewhere"), config))
    with make_client(healer_home, store) as client:
        assert "from elsewhere" in client.get("/").text
