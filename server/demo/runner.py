"""The demo run: a throwaway workspace, a real server, real incidents, the scripted agent, a summary."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from server.demo.agent import AGENT_NAME, Attempt, follow_up, run_agent
from server.demo.dispatched import DispatchedRun, agent_config, dispatch_one
from server.demo.scenarios import REVIEW_FILE, REVIEW_LINE, REVIEW_REQUEST, REVIEW_SCENARIO

DEMO_REPO = Path(__file__).resolve().parents[2] / "demo_repo"
HEALER = str(Path(sys.executable).with_name("healer"))


class DemoFailed(RuntimeError):
    pass


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised where the demo is so it cleans up as it does on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Orders Team",
        "GIT_AUTHOR_EMAIL": "orders@example.com",
        "GIT_COMMITTER_NAME": "Orders Team",
        "GIT_COMMITTER_EMAIL": "orders@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def prepare(root: Path) -> tuple[Path, Path, Path]:
    """The orders service as a git repository with history, its bare remote (the local forge), and HEALER_HOME."""
    if not (DEMO_REPO / "orders").is_dir():
        raise DemoFailed(f"the demo service is missing ({DEMO_REPO}); run the demo from a devops-healer checkout")
    source = root / "orders"
    shutil.copytree(DEMO_REPO, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc"))
    _git(source, "init", "-q", "-b", "main")
    _git(source, "add", "orders", "tests", "pyproject.toml", "README.md")
    _git(source, "commit", "-q", "-m", "orders service: pool, cache, auth")
    _git(source, "add", "-A")
    _git(source, "commit", "-q", "-m", "Add CodeRabbit settings and the log generator")
    forge = root / "forge" / "orders.git"
    forge.parent.mkdir(parents=True)
    _git(root, "clone", "-q", "--bare", str(source), str(forge))
    home = root / "home"
    home.mkdir()
    (home / "healer.toml").write_text(
        "[repos.orders]\n"
        f'url = "{forge}"\n'
        'default_branch = "main"\n'
        f'test_command = "{sys.executable} -m pytest"\n'
        "test_timeout_seconds = 120\n"
        'services = ["orders"]\n'
        "\n"
        "# The demo's quiet window after a merge is seconds so it can finish; the default is 30 minutes.\n"
        "[verification]\n"
        "quiet_minutes = 0.05\n" + agent_config()
    )
    return source, forge, home


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `healer serve` on a free port; the caller owns the process from here (see wait_until_healthy)."""
    port = _free_port()
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [HEALER, "serve", "--port", str(port)], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    return process, f"http://127.0.0.1:{port}"


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoFailed(f"healer serve exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise DemoFailed("healer serve did not become healthy within 30 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post_incidents(source: Path, url: str, env: dict[str, str]) -> list[dict[str, object]]:
    """What monitoring sends: the three faults, one of them twice, and a low-severity warning."""
    done = subprocess.run(
        [sys.executable, str(source / "loggen.py"), "--duplicate", "--url", url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise DemoFailed(f"the log generator failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def wait_for_triage(url: str, ids: set[str]) -> dict[str, dict[str, object]]:
    deadline = time.monotonic() + 30
    while True:
        found = {iid: httpx.get(f"{url}/incidents/{iid}", timeout=5).json() for iid in ids}
        if all(item["status"] not in ("received", "triaged") for item in found.values()):
            return found
        if time.monotonic() > deadline:
            raise DemoFailed("incidents were not triaged within 30 s")
        time.sleep(0.1)


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def run(keep: bool) -> int:
    root = Path(tempfile.mkdtemp(prefix="healer-demo-"))
    server: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _interrupt)  # `kill`, a CI timeout: clean up as on Ctrl-C
    home = root / "home"
    url = ""
    try:
        say("devops-healer demo: incidents in, reviewed pull requests out (no GitHub account, no LLM)")
        say()
        source, forge, home = prepare(root)
        say(f"1. demo service copied to {source} (git, 2 commits); local forge at {forge}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALER_") and k != "GITHUB_TOKEN"}
        env["HEALER_HOME"] = str(home)
        env["HEALER_REVIEW_INTERVAL_SECONDS"] = "0.5"
        # Held before the health wait, so an interrupt while the server starts still stops it.
        server, url = launch_server(env, root / "server.log")
        wait_until_healthy(server, url, root / "server.log")
        say(f"2. healer serve running at {url} (pid {server.pid}, log: {root / 'server.log'})")
        answers = post_incidents(source, url, env)
        created = {str(a["id"]) for a in answers if not a["duplicate"]}
        duplicates = [a for a in answers if a["duplicate"]]
        repeat = (
            f" (counted as occurrence {duplicates[0]['occurrences']} of {duplicates[0]['id']})" if duplicates else ""
        )
        posted = f"3. monitoring posted {len(answers)} reports: {len(created)} incidents, {len(duplicates)} duplicate"
        say(posted + repeat)
        triaged = wait_for_triage(url, created)
        for iid, item in sorted(triaged.items()):
            say(f"   {iid} {item['severity']:<8} -> {item['status']:<10} {item['title']}")
        say("4. the scripted demo agent connects over MCP (stdio) and works the queue:")
        attempts = asyncio.run(run_agent(HEALER, env, lambda line: say("   " + line)))
        say("   then devops-healer starts an agent CLI itself (no MCP client of the demo's own):")
        dispatched = dispatch_one(url, lambda line: say("   " + line))
        triaged[dispatched.incident_id] = httpx.get(f"{url}/incidents/{dispatched.incident_id}", timeout=5).json()
        summary = _summary(url, triaged, attempts, dispatched)
        say()
        say("5. result")
        say(table(summary))
        failures = _check(triaged, attempts)
        if dispatched.status != "fixed" or dispatched.pr_number is None:
            failures.append(f"run {dispatched.run_id} ended {dispatched.status}, not fixed")
        say()
        for line in look_further(home, url, attempts, keep):
            say(line)
        if attempts and attempts[0].pr_number:
            shown = subprocess.run(
                [HEALER, "pr", "show", str(attempts[0].pr_number)], env=env, capture_output=True, text=True, timeout=60
            )
            say()
            say(f"7. what a reviewer sees: healer pr show {attempts[0].pr_number} (first 25 lines)")
            say("\n".join("   " + line for line in shown.stdout.splitlines()[:25]))
        reviewed = next((a for a in attempts if a.scenario == REVIEW_SCENARIO and a.pr_number), None)
        if reviewed is None:
            failures.append("no pull request for the review round")
        else:
            failures += review_round(url, env, reviewed)
        say()
        say(f"done in {time.monotonic() - started:.1f} s")
        if failures:
            for failure in failures:
                say(f"FAILED: {failure}")
            return 1
        return 0
    except DemoFailed as exc:
        say(f"demo failed: {exc}")
        return 1
    except Exception as exc:
        say(f"demo failed: {type(exc).__name__}: {exc} (server log: {root / 'server.log'})")
        return 1
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        say(f"interrupted ({signal.Signals(signum).name}); stopping healer serve")
        return 128 + signum
    finally:
        # A second Ctrl-C or SIGTERM must not cut the cleanup short and leave the server running.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if server is not None:
                stop_server(server)
            if keep:
                say(f"workspace kept at {root}")
                if url:
                    port = url.rsplit(":", 1)[1]
                    again = _cli(home, "serve", "--port", port)
                    say(f"serve it again for the dashboard and curl lines of step 6: {again} &")
            else:
                shutil.rmtree(root, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, previous)


def _cli(home: Path, *args: str) -> str:
    """A healer command line that works from the caller's shell: HEALER_HOME set, the venv's healer.

    The demo runs without the caller's HEALER_* variables (a HEALER_DATABASE_URL would point elsewhere),
    so the command unsets those the caller has.
    """
    cwd = Path.cwd()
    program = str(Path(HEALER).relative_to(cwd)) if Path(HEALER).is_relative_to(cwd) else HEALER
    unset = [word for name in sorted(os.environ) if name.startswith("HEALER_") for word in ("-u", name)]
    return shlex.join([*(["env", *unset] if unset else []), f"HEALER_HOME={home}", program, *args])


def look_further(home: Path, url: str, attempts: list[Attempt], keep: bool) -> list[str]:
    """Step 6: the commands to look at the result; with --keep they work after the demo too."""
    when = (
        "the workspace is kept: after the demo, serve it again as printed at the end"
        if keep
        else "the workspace is removed when the demo ends: run `healer demo --keep` to try these afterwards"
    )
    lines = [f"6. look further ({when}):", f"   dashboard: {url}/", f"   {_cli(home, 'pr', 'list')}"]
    opened = [a for a in attempts if a.pr_number]
    lines += [f"   {_cli(home, 'pr', 'show', str(a.pr_number))}   # {a.incident_id}: {a.title}" for a in opened]
    lines.append(f"   curl -s {url}/incidents")
    if opened:
        lines.append(f"   curl -s {url}/incidents/{opened[0].incident_id}/timeline")
    return lines


def healer(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([HEALER, *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise DemoFailed(f"healer {' '.join(args)} failed: {done.stderr.strip()[-1000:]}")
    return done.stdout.strip()


def wait_for_status(url: str, iid: str, status: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, object] = httpx.get(f"{url}/incidents/{iid}", timeout=5).json()
        if found["status"] == status:
            return found
        if time.monotonic() > deadline:
            raise DemoFailed(f"{iid} is {found['status']}, expected {status} within {timeout:.0f} s")
        time.sleep(0.2)


def review_round(url: str, env: dict[str, str], attempt: Attempt) -> list[str]:
    """Changes requested -> the agent reads the feedback and follows up -> approved -> merged -> verified."""
    number, iid = str(attempt.pr_number), attempt.incident_id
    say()
    say(f"8. a review round on PR #{number} ({attempt.title})")
    say(f"   $ healer pr review {number} --request-changes --file {REVIEW_FILE} --line {REVIEW_LINE} -m '...'")
    out = healer(
        env,
        "pr",
        "review",
        number,
        "--request-changes",
        "--file",
        REVIEW_FILE,
        "--line",
        str(REVIEW_LINE),
        "-m",
        REVIEW_REQUEST,
        "--as",
        "ana",
    )
    say(f"   {out}")
    again = asyncio.run(follow_up(HEALER, env, iid, lambda line: say("   " + line)))
    failures = [] if again.pr_number == attempt.pr_number else [f"the follow-up opened #{again.pr_number}"]
    say(f"   $ healer pr review {number} --approve   then   healer pr merge {number}")
    say(f"   {healer(env, 'pr', 'review', number, '--approve', '--as', 'ana')}")
    say(f"   {healer(env, 'pr', 'merge', number, '--as', 'ana')}")
    wait_for_status(url, iid, "merged")
    say("   merged; the incident watches its source for the quiet window (3 s in the demo, 30 min by default)")
    wait_for_status(url, iid, "verified")
    say(f"   {iid} verified")
    say()
    say(f"9. the postmortem: healer postmortem {iid}")
    text = healer(env, "postmortem", iid)
    say("\n".join("   " + line for line in text.splitlines()))
    if "Rounds with changes requested: 1" not in text or "Follow-up commits: 1" not in text:
        failures.append("the postmortem does not show the review round")
    return failures


def _summary(
    url: str, triaged: dict[str, dict[str, object]], attempts: list[Attempt], dispatched: DispatchedRun
) -> list[list[str]]:
    rows = [["incident", "severity", "status", "branch", "PR", "tests before -> after", "verdict", "seconds", "by"]]
    by_id = {a.incident_id: a for a in attempts}
    for iid in sorted(triaged):
        now = httpx.get(f"{url}/incidents/{iid}", timeout=5).json()
        if iid == dispatched.incident_id:
            pr = now.get("pull_request") or {}
            number = f"#{dispatched.pr_number}" if dispatched.pr_number else "-"
            by = f"run {dispatched.run_id} ({dispatched.agent})"
            cells = [str(now["severity"]), str(now["status"]), str(pr.get("branch") or "-"), number, "-", "-"]
            rows.append([iid, *cells, f"{dispatched.seconds:.1f}", by])
            continue
        attempt = by_id.get(iid)
        rows.append(
            [
                iid,
                str(now["severity"]),
                str(now["status"]),
                (attempt.branch or "-") if attempt else "-",
                f"#{attempt.pr_number}" if attempt and attempt.pr_number else "-",
                (attempt.tests or "-") if attempt else "-",
                (attempt.verdict or "-") if attempt else "-",
                f"{attempt.seconds:.1f}" if attempt else "-",
                AGENT_NAME if attempt else "-",
            ]
        )
    return rows


def _check(triaged: dict[str, dict[str, object]], attempts: list[Attempt]) -> list[str]:
    failures = []
    fixed = [
        a
        for a in attempts
        if a.status == "pr_open" and a.verification and a.verification.startswith(("green", "improved"))
    ]
    if len(fixed) != 3:
        failures.append(f"expected 3 verified pull requests, got {len(fixed)}")
    monitored = [i for i in triaged.values() if i["status"] == "monitoring"]
    if len(monitored) != 1:
        failures.append(f"expected 1 monitored (low severity) incident, got {len(monitored)}")
    failures += [f"{a.incident_id}: {a.error}" for a in attempts if a.error]
    return failures
