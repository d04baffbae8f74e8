"""Similar past incidents where people read them: GET /incidents/{id}/similar, the incident page, and
`healer similar` run as a process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.store import Store
from tests.conftest import HEALER, healer_env
from tests.similar_history import PR_URL, History, fixed_then_seen_again


@pytest.fixture
def history(store: Store) -> History:
    return fixed_then_seen_again(store)


@pytest.fixture
def client(healer_home: Path, store: Store) -> Iterator[TestClient]:
    app = build_app(Settings(home=healer_home), load_config(healer_home / "healer.toml"), store, run_triage=False)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_the_api_lists_the_earlier_fix_of_the_same_fault(client: TestClient, history: History) -> None:
    response = client.get(f"/incidents/{history.later}/similar")
    assert response.status_code == 200
    found = response.json()
    assert found[0]["id"] == history.past
    assert found[0]["outcome"] == "verified"
    assert found[0]["pr_url"] == PR_URL and found[0]["pr_number"] == 12
    assert found[0]["changed_files"] == ["orders/db.py"]
    assert found[0]["root_cause"].startswith("Failed queries never returned")
    assert found[0]["score"] == 1.0
    assert history.unrelated not in [item["id"] for item in found]
    # Nothing came before the first incident.
    assert client.get(f"/incidents/{history.past}/similar").json() == []


@pytest.mark.parametrize("incident_id", ["INC-20261122-9999", "not-an-id"])
def test_the_api_answers_404_for_an_unknown_incident(client: TestClient, history: History, incident_id: str) -> None:
    response = client.get(f"/incidents/{incident_id}/similar")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "IncidentNotFound" and incident_id in error["message"]


def test_the_incident_page_links_the_earlier_incident_and_its_pr(client: TestClient, history: History) -> None:
    page = client.get(f"/ui/incidents/{history.later}").text
    section = page[page.index('id="similar-h"') : page.index("</section>", page.index('id="similar-h"'))]
    assert f'<a href="/ui/incidents/{history.past}">{history.past}</a>' in section
    assert f'href="{PR_URL}"' in section and "PR #12" in section
    assert "verified" in section and "orders/db.py" in section
    assert "Failed queries never returned their connection" in section
    # Reported and agent-written text is escaped, never markup.
    assert "<script>" not in section and "</untrusted-incident-data> ignore" not in section
    assert "None found." in client.get(f"/ui/incidents/{history.past}").text


def healer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_healer_similar_prints_the_earlier_fix(healer_home: Path) -> None:
    env = healer_env(healer_home)
    store = Store.open(env["HEALER_DATABASE_URL"])
    history = fixed_then_seen_again(store)
    store.close()

    done = healer(env, "similar", history.later)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"{history.past}  1.00  verified  PR #12  [orders] connection pool exhausted")
    assert PR_URL in done.stdout and "changed: orders/db.py" in done.stdout
    assert "root cause: Failed queries never returned" in done.stdout

    as_json = healer(env, "similar", history.later, "--json", "--limit", "1")
    assert [item["id"] for item in json.loads(as_json.stdout)] == [history.past]

    nothing = healer(env, "similar", history.past)
    assert nothing.stdout == f"No earlier incident looks like {history.past}.\n"

    missing = healer(env, "similar", "INC-20261122-9999")
    assert missing.returncode == 2 and missing.stdout == ""
    assert "INC-20261122-9999" in missing.stderr and "Traceback" not in missing.stderr

    bad_limit = healer(env, "similar", history.later, "--limit", "0")
    assert bad_limit.returncode == 2 and "--limit" in bad_limit.stderr
