"""Dashboard sessions in the store: signing out ends a copied cookie, sessions expire, and only a person
signed in with their own password or token approves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.approvals.people import password_hash
from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.store import Store
from server.store.sessions import end_sessions_of
from server.triage.decide import Triage
from server.triage.worker import triage_received
from tests.conftest import FakeClock, person_toml

API_TOKEN = "shared-api-token-for-tests"
ANA = "ana-person-token-for-tests"
PASSWORD = "ana's long dashboard password"
APPROVAL = """
[routing.approval]
users = ["ana", "carol"]

[[routing.rules]]
name = "payments needs a yes"
match = ['service="payments"']
route = "approval"
"""


@pytest.fixture
def home(healer_home: Path) -> Path:
    with (healer_home / "healer.toml").open("a") as config:
        config.write(APPROVAL + person_toml("ana", ANA) + f'password_hash = "{password_hash(PASSWORD)}"\n')
    return healer_home


def make_client(home: Path, store: Store, **settings: Any) -> TestClient:
    config = load_config(home / "healer.toml")
    return TestClient(
        build_app(Settings(home=home, **settings), config, store, run_triage=False), base_url="http://127.0.0.1"
    )


@pytest.fixture
def guarded(home: Path, store: Store) -> Iterator[TestClient]:
    with make_client(home, store, api_token=API_TOKEN) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, name: str, secret: str) -> Any:
    csrf = csrf_of(client.get("/login").text)
    return client.post("/login", data={"name": name, "token": secret, "csrf": csrf}, follow_redirects=False)


def waiting(store: Store, home: Path) -> str:
    config = load_config(home / "healer.toml")
    incident_id = store.ingest(normalize(IncidentIn(service="payments", error="refund doubled"), config)).id
    rules = Triage(config)
    triage_received(store, rules.decide, approval=rules.approval)
    assert store.get(incident_id).status == Status.awaiting_approval
    return incident_id


def press(client: TestClient, incident_id: str, action: str, reason: str = "") -> str:
    page = client.get(f"/ui/incidents/{incident_id}").text
    done = client.post(
        f"/ui/incidents/{incident_id}/actions",
        data={"action": action, "reason": reason, "csrf": csrf_of(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return client.get(f"/ui/incidents/{incident_id}").text


def test_a_copied_cookie_stops_working_when_its_session_signs_out(
    guarded: TestClient, home: Path, store: Store
) -> None:
    assert sign_in(guarded, "ana", ANA).status_code == 303
    copied = guarded.cookies.get("healer_session")
    assert copied and guarded.get("/", follow_redirects=False).status_code == 200
    with make_client(home, store, api_token=API_TOKEN) as thief:  # the copy, in another browser
        thief.cookies.set("healer_session", copied)
        assert thief.get("/", follow_redirects=False).status_code == 200
        out = guarded.post("/logout", data={"csrf": csrf_of(guarded.get("/").text)}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        bounced = thief.get("/", headers={"accept": "text/html"}, follow_redirects=False)
        assert bounced.status_code == 303 and bounced.headers["location"].startswith("/login")
        assert thief.get("/events", follow_redirects=False).status_code == 401


def test_a_copied_cookie_stops_working_on_an_open_dashboard_too(home: Path, store: Store) -> None:
    """No API token: pages are open, but the copy no longer acts as ana, so it cannot approve."""
    incident_id = waiting(store, home)
    with make_client(home, store) as browser:
        thief = TestClient(
            browser.app, base_url="http://127.0.0.1"
        )  # another browser on the same server (an open dashboard's key is its own)
        assert sign_in(browser, "ana", ANA).status_code == 303
        thief.cookies.set("healer_session", browser.cookies.get("healer_session") or "")
        assert "Signed in as <strong>ana</strong>" in thief.get("/").text
        browser.post("/logout", data={"csrf": csrf_of(browser.get("/").text)})
        page = press(thief, incident_id, "approve")
        assert "Signed in as <strong>ana</strong>" not in page
        assert "Refused:" in page and "sign in" in page
    assert store.get(incident_id).status == Status.awaiting_approval


def test_sessions_expire(guarded: TestClient, home: Path, store: Store, clock: FakeClock) -> None:
    assert sign_in(guarded, "ana", PASSWORD).status_code == 303
    assert guarded.get("/", follow_redirects=False).status_code == 200
    clock.advance(hours=11)
    assert guarded.get("/", follow_redirects=False).status_code == 200
    clock.advance(hours=2)  # past the 12 hours a session lasts
    assert guarded.get("/", follow_redirects=False).status_code == 401


def test_healer_people_revoke_ends_a_persons_sessions(guarded: TestClient, store: Store) -> None:
    assert sign_in(guarded, "ana", ANA).status_code == 303
    assert end_sessions_of(store, "ana") == 1
    assert guarded.get("/", follow_redirects=False).status_code == 401


def test_changed_credentials_end_the_session(home: Path, store: Store) -> None:
    with make_client(home, store, api_token=API_TOKEN) as before:
        assert sign_in(before, "ana", ANA).status_code == 303
        cookie = before.cookies.get("healer_session") or ""
    config = home / "healer.toml"
    config.write_text(config.read_text().replace(person_toml("ana", ANA), person_toml("ana", "ana-new-token")))
    with make_client(home, store, api_token=API_TOKEN) as after:  # restarted with ana's new token
        after.cookies.set("healer_session", cookie)
        assert after.get("/", follow_redirects=False).status_code == 401


@pytest.mark.parametrize(
    ("secret", "verified_by"),
    [
        (PASSWORD, "dashboard_session"),  # ana's own password
        (ANA, "dashboard_session"),  # ana's own person token
    ],
)
def test_a_person_signed_in_as_themself_approves(
    guarded: TestClient, home: Path, store: Store, secret: str, verified_by: str
) -> None:
    incident_id = waiting(store, home)
    assert sign_in(guarded, "ANA", secret).status_code == 303  # logins are case-insensitive
    page = press(guarded, incident_id, "approve", "owner says go")
    assert "Approved: the incident is now pending." in page
    approved = next(e for e in store.timeline(incident_id) if e.event == "approved")
    assert (approved.actor, approved.detail["verified_by"], approved.detail["reason"]) == (
        "human:ana",
        verified_by,
        "owner says go",
    )


def test_a_session_opened_with_the_shared_token_cannot_approve(guarded: TestClient, home: Path, store: Store) -> None:
    incident_id = waiting(store, home)
    assert sign_in(guarded, "carol", API_TOKEN).status_code == 303  # carol is a named approver, not a person
    page = guarded.get(f"/ui/incidents/{incident_id}").text
    assert 'id="approve-needs-person"' in page
    after = press(guarded, incident_id, "approve")
    assert "Refused:" in after and "carol did not sign in with a person" in after
    assert store.get(incident_id).status == Status.awaiting_approval


@pytest.mark.parametrize(
    ("name", "secret", "message"),
    [
        ("ana", API_TOKEN, "ana is a configured person"),  # the shared token does not make you ana
        ("ana", "", "Enter your password or token"),
        ("ana", "wrong password", "not the API token, nor a password or token of a person named ana"),
        ("bob", ANA, "not the API token"),  # ana's token does not make anyone else ana
    ],
)
def test_signing_in_as_a_person_needs_their_own_credentials(
    guarded: TestClient, store: Store, name: str, secret: str, message: str
) -> None:
    refused = sign_in(guarded, name, secret)
    assert refused.status_code == 401 and message in refused.text
    assert guarded.get("/", follow_redirects=False).status_code == 401


def test_an_open_dashboard_will_not_take_a_persons_name_on_trust(home: Path, store: Store) -> None:
    with make_client(home, store) as client:
        refused = sign_in(client, "Ana", "")
        assert refused.status_code == 401 and "Ana is a configured person" not in refused.text
        assert "ana is a configured person" in refused.text
        assert sign_in(client, "dave", "").status_code == 303  # anyone else may still act under a name
