"""The dashboard in a real Chromium (Debian's, driven by Playwright): live updates from another process,
a dropped and restored feed, approving from the incident page, keyboard-only use, and screenshots.

Screenshots of each page land in tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from server.models import Status
from server.store import Store
from tests.conftest import HEALER, REPO_ROOT, ServerProcess, free_port, healer_env, person_toml, start_server
from tests.fixer_repo import TEST_COMMAND, make_calc_repo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
ROUTING = """
[routing.approval]
users = ["ana"]

[[routing.rules]]
name = "billing needs a yes"
match = ['service="billing"']
route = "approval"
"""
ANA = "ana-person-token-for-browser-tests"
ROUTING += person_toml("ana", ANA)


def _missing(reason: str) -> NoReturn:
    """Skip here; under HEALER_TEST_BROWSER=1 (CI) a missing browser or driver is a failure, never a skip."""
    if os.environ.get("HEALER_TEST_BROWSER") == "1":
        pytest.fail(f"HEALER_TEST_BROWSER=1 (CI) but {reason}")
    pytest.skip(reason)


def _launch() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("browser tests need Playwright for Python (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        _missing(f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/install-browser)")
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _launch()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # The tests evaluate JavaScript in the page to watch it, which the page's own CSP forbids.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture
def strict_page(browser: Any) -> Iterator[Any]:
    """A page that keeps the dashboard's Content-Security-Policy in force."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    source = make_calc_repo(tmp_path / "calc")
    home = tmp_path / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        f'[repos.calc]\npath = "{source}"\ntest_command = "{TEST_COMMAND}"\nservices = ["calc", "billing"]\n' + ROUTING
    )
    return healer_env(home)


@pytest.fixture
def servers(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes on one database: the browser watches one, reports arrive at the other."""
    first = start_server(env, tmp_path / "a.log")
    second = start_server(env, tmp_path / "b.log")
    yield first, second
    first.stop()
    second.stop()


def report(server: ServerProcess, **body: Any) -> str:
    answer = httpx.post(f"{server.url}/incidents", json={"severity": "high", **body}, timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def wait_status(server: ServerProcess, iid: str, status: str) -> None:
    deadline = time.monotonic() + 15
    while httpx.get(f"{server.url}/incidents/{iid}").json()["status"] != status:
        assert time.monotonic() < deadline, f"{iid} never became {status}"
        time.sleep(0.05)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_live(page: Any) -> None:
    page.wait_for_function("window.healerFeed && window.healerFeed.readyState === 1")


def test_the_list_shows_posted_incidents(strict_page: Any, servers: tuple[ServerProcess, ServerProcess]) -> None:
    page = strict_page
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    first, _ = servers
    made = [
        report(first, service="calc", error="add returns a - b", severity="critical"),
        report(first, service="billing", error="charge declined twice"),
        report(first, log="WARNING disk 91% full on /var", source="kestra", service="files"),
    ]
    page.goto(first.url + "/")
    for iid in made:
        assert page.locator(f"#row-{iid}").is_visible()
    assert page.locator("#row-" + made[0]).get_by_text("add returns a - b").is_visible()
    assert page.locator(f"#row-{made[0]} .sev").inner_text().strip().lower().endswith("critical")
    assert shot(page, "list").stat().st_size > 10_000
    page.locator("#feed-state").wait_for(state="hidden")
    assert complaints == []  # nothing refused by the page's CSP, nothing failed to load


def test_a_report_to_another_process_appears_live(page: Any, servers: tuple[ServerProcess, ServerProcess]) -> None:
    watched, other = servers
    page.goto(watched.url + "/")
    wait_live(page)
    page.evaluate("window.notReloaded = true")
    iid = report(other, service="calc", error="mul overflows")
    row = page.locator(f"#row-{iid}")
    row.wait_for()
    assert "mul overflows" in row.inner_text()
    page.wait_for_function(f"document.getElementById('live').textContent.includes('{iid}')")
    # Triage (in whichever process) moves it; the row follows without a reload.
    page.wait_for_function(f"document.querySelector('#row-{iid} .status-text').textContent === 'Waiting for an agent'")
    report(other, service="calc", error="mul overflows")  # a repeat: one more occurrence
    page.wait_for_function(f"document.querySelector('#row-{iid} [data-field=occurrences]').textContent === '2'")
    assert page.evaluate("window.notReloaded") is True


def _start_on(env: dict[str, str], log: Path, port: int, wait: float = 30) -> ServerProcess:
    handle = log.open("ab")
    process = subprocess.Popen([HEALER, "serve", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return ServerProcess(process, url, env, log, handle)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    handle.close()
    raise RuntimeError(log.read_text())


def test_a_dropped_feed_misses_nothing_when_it_comes_back(page: Any, env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    watched = _start_on(env, tmp_path / "a.log", port)
    other = start_server(env, tmp_path / "b.log")
    try:
        page.goto(watched.url + "/")
        wait_live(page)
        page.evaluate("window.notReloaded = true")
        watched.stop()  # the browser's connection drops
        page.wait_for_function("window.healerFeed.readyState !== 1")
        missed = [report(other, service="calc", error=f"fault {n}", fingerprint=f"gone{n}") for n in range(3)]
        for iid in missed:
            wait_status(other, iid, "pending")
        watched = _start_on(env, tmp_path / "a2.log", port)  # the browser reconnects with Last-Event-ID
        for iid in missed:
            page.locator(f"#row-{iid}").wait_for()
            page.wait_for_function(
                f"document.querySelector('#row-{iid} .status-text').textContent === 'Waiting for an agent'"
            )
        assert page.evaluate("window.notReloaded") is True
        store = Store.open(env["HEALER_DATABASE_URL"])
        with store.read() as connection:
            from server.observe.feed import newest_id

            newest = newest_id(connection)
        store.close()
        page.wait_for_function(f"document.body.getAttribute('data-last-event-id') === '{newest}'")
    finally:
        watched.stop()
        other.stop()


def sign_in(page: Any, server: ServerProcess, name: str, secret: str = "") -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password or token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.url + "/")


def test_the_sign_in_page_asks_for_the_token(strict_page: Any, env: dict[str, str], tmp_path: Path) -> None:
    page = strict_page
    guarded = start_server({**env, "HEALER_API_TOKEN": "browser-test-token"}, tmp_path / "login.log")
    try:
        page.goto(guarded.url + "/?stage=stuck")
        page.wait_for_url(guarded.url + "/login?next=%2F%3Fstage%3Dstuck")
        assert page.get_by_label("Your name").is_visible() and page.get_by_label("Password or token").is_visible()
        assert shot(page, "login").stat().st_size > 5_000
        page.get_by_label("Your name").fill("oncall")
        page.get_by_label("Password or token").fill("browser-test-token")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(guarded.url + "/?stage=stuck")
        assert "Signed in as oncall" in page.locator("body").inner_text()
    finally:
        guarded.stop()


STALE_WATCH = """
window.staleAfter = null;
new MutationObserver(function () {
  if (window.staleAfter !== null || !document.getElementById("actions-stale")) return;
  var events = document.querySelectorAll("#timeline li .event");
  window.staleAfter = events.length ? events[events.length - 1].textContent : "";
}).observe(document, { childList: true, subtree: true });
"""


def test_approve_from_the_incident_page(
    page: Any, servers: tuple[ServerProcess, ServerProcess], env: dict[str, str]
) -> None:
    first, _ = servers
    sign_in(page, first, "ana", ANA)  # only a person signed in with their own token approves
    iid = report(first, service="billing", error="refund doubled", severity="critical")
    wait_status(first, iid, "awaiting_approval")
    # Notes, from the first parse of every page, which timeline event was last shown when the
    # "state changed" notice appeared; it must never be the change the page itself shows.
    page.add_init_script(STALE_WATCH)
    page.goto(f"{first.url}/ui/incidents/{iid}")
    assert page.locator(".headline .status-text").inner_text() == "Awaiting approval"
    page.get_by_label("Reason for approving").fill("billing owner says go")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url(f"{first.url}/ui/incidents/{iid}")
    assert "Approved: the incident is now pending." in page.locator(".flash").inner_text()
    assert page.locator(".headline .status-text").inner_text() == "Waiting for an agent"
    last = httpx.get(f"{first.url}/incidents/{iid}/timeline").json()[-1]
    assert (last["event"], last["actor"], last["detail"]["reason"]) == (
        "approved",
        "human:ana",
        "billing owner says go",
    )
    assert page.locator("#timeline li").last.inner_text().count("human:ana") == 1
    # The page after the redirect already shows the approval: no "state changed" notice for it.
    wait_live(page)
    time.sleep(1)  # four polls of the feed: an echo of the approval would have arrived by now
    assert page.locator("#actions-stale").count() == 0
    shot(page, "incident")
    # A change someone else makes after the page loaded does bring the notice.
    store = Store.open(env["HEALER_DATABASE_URL"])
    store.transition(iid, Status.escalated, actor="human:bob", event="escalated")
    store.close()
    page.locator("#actions-stale").wait_for()
    assert page.evaluate("window.staleAfter") == "escalated"
    shot(page, "incident-changed-elsewhere")


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching ``selector`` has focus (a keyboard user's path)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement === document.querySelector({selector!r})"):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_keyboard_only(page: Any, servers: tuple[ServerProcess, ServerProcess]) -> None:
    first, other = servers
    iid = report(first, service="calc", error="div by zero")
    wait_status(first, iid, "pending")
    page.goto(first.url + "/")
    wait_live(page)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    # The filters work from the keyboard: type a search and submit with Enter.
    tab_to(page, "#q")
    page.keyboard.type("div by")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=div+by**")
    tab_to(page, f"#row-{iid} a")
    # A live update to the focused row leaves the focus where it is.
    report(other, service="calc", error="div by zero")
    page.wait_for_function(f"document.querySelector('#row-{iid} [data-field=occurrences]').textContent === '2'")
    assert page.evaluate(f"document.activeElement === document.querySelector('#row-{iid} a')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/incidents/{iid}")
    tab_to(page, "#reason-resolve")
    page.keyboard.type("handled by hand")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Resolve"
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('.flash') !== null")
    assert httpx.get(f"{first.url}/incidents/{iid}").json()["status"] == Status.resolved.value


def test_overview_page(page: Any, servers: tuple[ServerProcess, ServerProcess], env: dict[str, str]) -> None:
    first, _ = servers
    made = [report(first, service="calc", error=f"fault {n}", fingerprint=f"o{n}") for n in range(4)]
    for iid in made:
        wait_status(first, iid, "pending")
    store = Store.open(env["HEALER_DATABASE_URL"])
    store.claim(made[0], agent="claude")
    store.report_fix(made[0], agent="claude", outcome="success", pr_url="https://git.example/calc/pull/3")
    store.transition(made[1], Status.escalated, actor="human:ana")
    store.close()
    page.goto(first.url + "/ui/overview")
    assert page.locator('[data-stage-count="stuck"]').inner_text() == "1"
    assert page.locator('[data-stage-count="pr_open"]').inner_text() == "1"
    assert page.get_by_role("link", name=made[1]).is_visible()
    shot(page, "overview")


def test_the_list_fits_a_phone(browser: Any, env: dict[str, str], tmp_path: Path) -> None:
    """At 420 px (an on-call phone) the incident, its title and its status show without sideways scrolling."""
    first = _start_on(env, tmp_path / "phone.log", free_port(), wait=120)  # a loaded CI machine starts it slowly
    made = [
        report(first, service="calc", error="add returns a - b for every pair of arguments it is given"),
        report(first, service="billing", error="charge declined twice", severity="critical"),
    ]
    for iid in made:
        wait_status(first, iid, "pending" if iid == made[0] else "awaiting_approval")
    context = browser.new_context(viewport={"width": 420, "height": 860}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(first.url + "/")
        for iid in made:
            row = page.locator(f"#row-{iid}")
            for part in (row.locator("th a"), row.locator(".title"), row.locator("[data-field=status]")):
                assert part.is_visible()
                box = part.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420, (iid, box)
        assert page.locator(f"#row-{made[0]} .status-text").inner_text() == "Waiting for an agent"
        wide = page.evaluate(
            "[document.documentElement.scrollWidth, document.querySelector('.table-wrap').scrollWidth,"
            " document.querySelector('.table-wrap').clientWidth]"
        )
        assert wide[0] <= 420 and wide[1] <= wide[2], wide  # neither the page nor the table scrolls sideways
        assert shot(page, "list-phone").stat().st_size > 5_000
    finally:
        context.close()
        first.stop()
