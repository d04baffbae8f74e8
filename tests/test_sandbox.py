"""The test sandbox (fixer/sandbox.py) with real bubblewrap: a hostile test suite run through the real
fixer pipeline reads none of the server's secrets, and ordinary test commands still work."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixer.errors import SandboxUnavailable, VerificationRefused
from fixer.forge_local import LocalForge, ensure_bare_remote
from fixer.models import Change, PolicyConfig, RepoSpec
from fixer.pipeline import Fixer
from fixer.sandbox import SandboxSpec, bwrap_arguments, bwrap_path, wrap
from fixer.verify import SubprocessRunner
from fixer.workspace import Workspace
from tests.conftest import MemoryPullRequests, make_repo
from tests.fixer_repo import ADD_FIX, FILES, TEST_COMMAND, diff_for, fix_request, make_calc_repo

needs_bwrap = pytest.mark.skipif(
    bwrap_path() is None,
    reason="bubblewrap (bwrap) is missing or cannot create user namespaces here; apt-get install bubblewrap",
)

#: What the hostile suite does: each probe prints "PROBE <name>: LEAKED <what>" or "PROBE <name>: blocked (<why>)".
PROBES = r"""
import json, os, socket
from pathlib import Path

T = json.loads((Path(__file__).parent / "targets.json").read_text())


def probe(name, attempt):
    try:
        got = attempt()
    except Exception as exc:
        print(f"PROBE {name}: blocked ({type(exc).__name__}: {exc})")
        return
    print(f"PROBE {name}: {'LEAKED ' + repr(got)[:300] if got else 'blocked (nothing there)'}")


def parent_environ():
    return Path(f"/proc/{os.getppid()}/environ").read_bytes().decode(errors="replace").replace("\0", " ")


def any_environ():
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if T["token"] in text:
                found.append(entry.name)
    return found


def server_process():
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if T["marker"].encode() in (entry / "cmdline").read_bytes():
                    found.append(entry.name)
            except OSError:
                continue
    return found


def connect():
    with socket.create_connection(("127.0.0.1", T["port"]), timeout=3) as s:
        return s.recv(100).decode()


def test_probe():
    probe("own-env", lambda: T["token"] if T["token"] in str(os.environ) else None)
    probe("parent-environ", lambda: T["token"] if T["token"] in parent_environ() else None)
    probe("any-environ", any_environ)
    probe("config", lambda: Path(T["config"]).read_text())
    probe("database", lambda: Path(T["database"]).read_bytes())
    probe("home", lambda: (Path(T["home"]) / "healer.toml").read_text())
    probe("sibling-worktree", lambda: Path(T["sibling"]).read_text())
    probe("processes", server_process)
    probe("network", connect)
"""

PROBE_NAMES = [
    "own-env",
    "parent-environ",
    "any-environ",
    "config",
    "database",
    "home",
    "sibling-worktree",
    "processes",
    "network",
]


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A folder outside /tmp (the sandbox gives /tmp a private tmpfs, which would hide anything there anyway)."""
    parent = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix="healer-sandbox-", dir=parent))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def listener() -> Iterator[tuple[int, str]]:
    """A loopback server that hands every connection a secret: reaching it means the network was open."""
    secret = f"net-canary-{uuid.uuid4().hex}"
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(secret.encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], secret
    stop.set()
    thread.join()
    server.close()


#: A server process: its settings from its environment (where the token is), the fixer as FixService builds it.
SERVER = """
import json, sys
from pathlib import Path
from fixer.forge_local import LocalForge
from fixer.models import Change, RepoSpec
from fixer.pipeline import Fixer
from fixer.workspace import Workspace
from server.fixing.forges import repo_spec
from server.config import RepoConfig
from server.fixing.sandboxing import hidden_paths
from server.common.settings import Settings
from tests.conftest import MemoryPullRequests
from tests.fixer_repo import fix_request
args = json.loads(sys.argv[1])
settings = Settings()
records = MemoryPullRequests()
forge = LocalForge("calc", Path(args["bare"]), records)
repo = RepoConfig(name="calc", path=args["source"], test_command=args["test_command"], sandbox="required")
fixer = Fixer(Workspace(settings.home / "workspaces"), hidden=hidden_paths(settings))
result = fixer.submit(repo_spec(repo, settings), fix_request(Change(diff=args["diff"])), forge)
body = records.prs[result.pull_request.number].body
print(json.dumps({"body": body, "verification": result.verification.model_dump()}))
"""


class Server:
    """HEALER_HOME, config and database where a server keeps them, with secrets in each, and a hostile repo."""

    def __init__(self, tmp_path: Path, base: Path, port: int) -> None:
        self.tmp = tmp_path
        self.marker = f"fake-server-{uuid.uuid4().hex}"  # in the server's command line, for the process probe
        self.token = f"canary-token-{uuid.uuid4().hex}"
        self.config_secret = f"canary-config-{uuid.uuid4().hex}"
        self.db_secret = f"canary-db-{uuid.uuid4().hex}"
        self.sibling_secret = f"canary-sibling-{uuid.uuid4().hex}"
        self.home, self.config, self.database = base / "home", base / "etc" / "healer.toml", base / "db" / "healer.db"
        for folder in (self.home, self.config.parent, self.database.parent):
            folder.mkdir(parents=True)
        (self.home / "healer.toml").write_text(f'secret = "{self.config_secret}"\n')
        self.config.write_text(f'[sources.x]\nbearer_token = "{self.config_secret}"\n')
        self.database.write_text(f"SQLite format 3 {self.db_secret}")
        sibling = self.home / "workspaces" / "attempt-other" / "work" / "secret.txt"
        sibling.parent.mkdir(parents=True)
        sibling.write_text(self.sibling_secret)
        targets = {
            "token": self.token,
            "config": str(self.config),
            "database": str(self.database),
            "home": str(self.home),  # healer.toml there holds a secret too
            "sibling": str(sibling),
            "marker": self.marker,
            "port": port,
        }
        files = {**FILES, "tests/targets.json": json.dumps(targets), "tests/test_probe.py": PROBES}
        self.source = make_repo(tmp_path / "calc", files)
        self.bare = ensure_bare_remote(str(self.source), tmp_path / "forge" / "calc.git")

    def submit(self) -> dict[str, Any]:
        """Run one fix in a server process whose environment holds the token, as `healer serve` would."""
        env = {
            **os.environ,
            "GITHUB_TOKEN": self.token,
            "HEALER_GITHUB_TOKEN": self.token,
            "HEALER_HOME": str(self.home),
            "HEALER_CONFIG": str(self.config),
            "HEALER_DATABASE_URL": f"sqlite:///{self.database}",
        }
        args = {
            "bare": str(self.bare),
            "source": str(self.source),
            "test_command": TEST_COMMAND.replace("-q", "-q -s"),  # -s: the probes' prints reach the output
            "diff": diff_for(self.source, ADD_FIX, self.tmp),
        }
        done = subprocess.run(
            [sys.executable, "-c", SERVER, json.dumps(args), self.marker],
            cwd=Path(__file__).parent.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
        return result

    def secrets(self) -> list[str]:
        return [self.token, self.config_secret, self.db_secret, self.sibling_secret]


@needs_bwrap
def test_a_hostile_test_suite_reads_no_secret_and_the_pr_body_shows_none(
    tmp_path: Path, outside_tmp: Path, listener: tuple[int, str]
) -> None:
    port, net_secret = listener
    server = Server(tmp_path, outside_tmp, port)

    result = server.submit()

    body, output = result["body"], result["verification"]["after"]["output"]
    for name in PROBE_NAMES:
        assert f"PROBE {name}: blocked" in output, output  # every attempt ran and was refused
    assert "LEAKED" not in output
    for secret in [*server.secrets(), net_secret]:
        assert secret not in body
        assert secret not in output
    assert "PROBE own-env: blocked" in body  # the body does carry the run's output
    assert result["verification"]["verdict"] == "improved"  # and the ordinary tests ran as usual


@needs_bwrap
def test_a_pytest_suite_passes_in_the_sandbox_with_a_virtualenv_outside_the_worktree(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    forge = LocalForge("calc", ensure_bare_remote(str(source), tmp_path / "forge.git"), MemoryPullRequests())
    spec = RepoSpec(name="calc", path=source, test_command=TEST_COMMAND, sandbox="required")
    assert not Path(sys.executable).is_relative_to(tmp_path)  # the interpreter and its packages live elsewhere

    result = Fixer(Workspace(tmp_path / "ws")).submit(
        spec, fix_request(Change(diff=diff_for(source, ADD_FIX, tmp_path))), forge
    )

    assert result.verification.before is not None and result.verification.after is not None
    assert result.verification.before.failed_tests == ["tests/test_calc.py::test_add", "tests/test_calc.py::test_mul"]
    assert result.verification.after.failed_tests == ["tests/test_calc.py::test_mul"]
    assert result.verification.verdict == "improved"


def run_in_box(tmp_path: Path, script: str, *, network: bool = False, timeout: float = 60) -> tuple[int | None, str]:
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    (tree / "probe.py").write_text(script)
    run = SubprocessRunner().run(
        f"{sys.executable} probe.py",
        tree,
        timeout=timeout,
        output_cap=64_000,
        sandbox=SandboxSpec(writable=(tree,), network=network),
        mode="required",
    )
    return run.exit_code, run.output


@needs_bwrap
def test_writes_outside_the_worktree_fail(tmp_path: Path, outside_tmp: Path) -> None:
    target = outside_tmp / "planted"
    script = f"""
from pathlib import Path
Path("inside.txt").write_text("ok")
Path("/tmp/scratch").write_text("ok")  # the private /tmp is writable, and gone afterwards
for path in {[str(target), str(Path.home() / f".healer-planted-{uuid.uuid4().hex}"), str(tmp_path / "beside")]!r}:
    try:
        Path(path).write_text("x")
        print("WROTE", path)
    except OSError as exc:
        print("REFUSED", path, exc.strerror)
"""
    code, output = run_in_box(tmp_path, script)

    assert code == 0, output
    assert f"REFUSED {target} Read-only file system" in output, output
    assert "REFUSED /" in output.split("\n")[1] and "Read-only" in output.split("\n")[1], output  # the home folder
    # Beside the worktree under /tmp a write lands in the private /tmp, which nobody else sees.
    assert (tmp_path / "tree" / "inside.txt").read_text() == "ok"
    assert not target.exists() and not (tmp_path / "beside").exists()


@needs_bwrap
@pytest.mark.parametrize(
    ("network", "reached"),
    [
        (False, False),  # the default: a namespace with no interface but its own loopback
        (True, True),  # test_network = true: the host's network, loopback services included
    ],
)
def test_the_network_is_reachable_only_with_test_network(
    tmp_path: Path, listener: tuple[int, str], network: bool, reached: bool
) -> None:
    port, secret = listener
    script = f"""
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as s:
        print("GOT", s.recv(100).decode())
except OSError as exc:
    print("NO NETWORK", exc)
"""
    code, output = run_in_box(tmp_path, script, network=network)

    assert code == 0, output
    assert (secret in output) is reached, output


@needs_bwrap
def test_a_timeout_kills_the_whole_sandboxed_group(tmp_path: Path) -> None:
    marker = f"{300 + int(uuid.uuid4().int % 1000) / 1000:.3f}"  # an argument no other sleep has
    script = f"""
import subprocess, time
subprocess.Popen(["sleep", "{marker}"], start_new_session=True)  # escapes the group, not the sandbox
subprocess.Popen(["sleep", "{marker}"])
time.sleep(300)
"""
    code, output = run_in_box(tmp_path, script, timeout=2)

    assert code is None and "killed after 2s" in output
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in cmdline:
                left.append(entry.name)
    assert left == []


def test_required_without_bwrap_refuses_to_run_the_tests_and_opens_a_draft(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    records = MemoryPullRequests()
    forge = LocalForge("calc", ensure_bare_remote(str(source), tmp_path / "forge.git"), records)
    spec = RepoSpec(name="calc", path=source, test_command=TEST_COMMAND, sandbox="required")
    runner = SubprocessRunner(bwrap=str(tmp_path / "nowhere" / "bwrap"))
    change = Change(diff=diff_for(source, ADD_FIX, tmp_path))

    result = Fixer(Workspace(tmp_path / "ws"), runner).submit(spec, fix_request(change), forge)

    assert result.verification.before is None and result.verification.after is None
    assert result.verification.verdict == "not_run"
    summary = result.verification.summary()
    assert summary.startswith("not_run: tests not run (the test sandbox is unavailable: bubblewrap")
    assert 'sandbox = "off"' in summary and "apt-get install bubblewrap" in summary
    assert result.pull_request is not None and result.pull_request.draft
    body = records.prs[result.pull_request.number].body
    assert summary in body and "green" not in body


def test_required_without_bwrap_and_a_refuse_policy_refuses_the_change(tmp_path: Path) -> None:
    source = make_calc_repo(tmp_path / "calc")
    forge = LocalForge("calc", ensure_bare_remote(str(source), tmp_path / "forge.git"), MemoryPullRequests())
    spec = RepoSpec(
        name="calc",
        path=source,
        test_command=TEST_COMMAND,
        sandbox="required",
        policy=PolicyConfig(unverified="refuse"),
    )
    runner = SubprocessRunner(bwrap=str(tmp_path / "nowhere" / "bwrap"))

    with pytest.raises(VerificationRefused, match="bubblewrap"):
        Fixer(Workspace(tmp_path / "ws"), runner).submit(
            spec, fix_request(Change(diff=diff_for(source, ADD_FIX, tmp_path))), forge
        )


@pytest.mark.parametrize(
    ("mode", "wrapped"),
    [
        ("auto", False),  # bwrap missing: run bare (logged)
        ("off", False),  # explicit opt-out (logged)
    ],
)
def test_auto_and_off_run_bare_without_bwrap(
    tmp_path: Path, mode: str, wrapped: bool, caplog: pytest.LogCaptureFixture
) -> None:
    argv = wrap(["true"], SandboxSpec(writable=(tmp_path,)), mode, bwrap=str(tmp_path / "nowhere"))  # type: ignore[arg-type]

    assert argv == ["true"]
    assert "without a sandbox" in caplog.text


def test_required_without_bwrap_raises(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match=r"apt-get install bubblewrap\) or set sandbox = \"off\""):
        wrap(["true"], SandboxSpec(writable=(tmp_path,)), "required", bwrap=str(tmp_path / "nowhere"))


def test_mounts_apply_parents_first_so_a_worktree_inside_a_hidden_home_is_writable(outside_tmp: Path) -> None:
    home = outside_tmp / "home"
    tree = home / "workspaces" / "attempt-1" / "work"
    tree.mkdir(parents=True)
    (tree / ".git").write_text("gitdir: elsewhere\n")
    config = outside_tmp / "healer.toml"
    config.write_text("")
    link = outside_tmp / "link-to-home"
    link.symlink_to(home)

    args = bwrap_arguments(
        SandboxSpec(
            writable=(tree,),
            hidden=(link, config, outside_tmp / "missing.db", home / "workspaces"),
            readonly=(tree / ".git",),
        )
    )

    targets = [
        (arg, args[i + 1] if arg == "--tmpfs" else args[i + 2])
        for i, arg in enumerate(args)
        if arg in ("--bind", "--tmpfs", "--ro-bind")
    ]
    assert [item for item in targets if item[1].startswith(str(outside_tmp))] == [
        ("--ro-bind", str(config)),  # a file: /dev/null over it
        ("--tmpfs", str(home)),  # the symlink's target, not the link
        ("--tmpfs", str(home / "workspaces")),
        ("--bind", str(tree)),  # bound again after the tmpfs over its parents
        ("--ro-bind", str(tree / ".git")),  # and its .git file read-only on top
    ]
    assert "--unshare-net" in args
    assert str(outside_tmp / "missing.db") not in args  # nothing to hide


@needs_bwrap
def test_a_hidden_working_folder_fails_the_run_instead_of_running_elsewhere(outside_tmp: Path) -> None:
    hidden = outside_tmp / "home"
    (hidden / "sub").mkdir(parents=True)
    scratch = outside_tmp / "scratch"
    scratch.mkdir()

    run = SubprocessRunner().run(
        "pwd",
        hidden / "sub",
        timeout=30,
        output_cap=10_000,
        sandbox=SandboxSpec(writable=(scratch,), hidden=(hidden,)),
        mode="required",
    )

    assert run.exit_code != 0
    assert f"Can't chdir to {hidden / 'sub'}" in run.output


@needs_bwrap
@pytest.mark.parametrize(
    ("test_network", "verdict"),
    [
        (False, "red"),  # the default: the suite that needs the service cannot reach it
        (True, "green"),  # [repos.<name>] test_network = true
    ],
)
def test_the_pipeline_gives_the_network_only_to_repositories_that_ask(
    tmp_path: Path, listener: tuple[int, str], test_network: bool, verdict: str
) -> None:
    port, secret = listener
    needs_service = f"""import socket


def test_service():
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as s:
        assert s.recv(100) == {secret.encode()!r}
"""
    source = make_repo(tmp_path / "svc", {"tests/test_svc.py": needs_service, "README.md": "svc\n"})
    forge = LocalForge("svc", ensure_bare_remote(str(source), tmp_path / "forge.git"), MemoryPullRequests())
    spec = RepoSpec(
        name="svc",
        path=source,
        test_command=TEST_COMMAND,
        sandbox="required",
        test_network=test_network,
        policy=PolicyConfig(verify_before=False),
    )
    change = Change(diff=diff_for(source, {"README.md": ("svc", "svc, documented")}, tmp_path))

    result = Fixer(Workspace(tmp_path / "ws")).submit(spec, fix_request(change), forge)

    assert result.verification.verdict == verdict


@needs_bwrap
def test_an_interpreter_installed_under_tmp_stays_usable_and_what_is_hidden_inside_stays_hidden(
    tmp_path: Path,
) -> None:
    # A clone and virtualenv made under /tmp (as a CI job's checkout may be) would vanish under the
    # private /tmp with the interpreter a test needs; `visible` shows it read-only, hidden still wins.
    install = Path(tempfile.mkdtemp(prefix="healer-install-", dir="/tmp"))
    try:
        (install / "tool.txt").write_text("the toolchain\n")
        (install / "secret.txt").write_text("a secret inside the install\n")
        tree = tmp_path / "tree"
        tree.mkdir()
        script = (
            "import pathlib, sys\n"
            f"root = pathlib.Path({str(install)!r})\n"
            "print('tool:', (root / 'tool.txt').read_text().strip())\n"
            "secret = root / 'secret.txt'\n"
            "try:\n    print('secret:', secret.read_text().strip() or 'hidden')\n"
            "except OSError:\n    print('secret: hidden')\n"
            "try:\n    (root / 'new.txt').write_text('x')\n    print('write: allowed')\n"
            "except OSError:\n    print('write: refused')\n"
        )
        (tree / "probe.py").write_text(script)
        run = SubprocessRunner().run(
            f"{sys.executable} probe.py",
            tree,
            timeout=60,
            output_cap=64_000,
            sandbox=SandboxSpec(writable=(tree,), visible=(install,), hidden=(install / "secret.txt",)),
            mode="required",
        )
        assert run.exit_code == 0, run.output
        assert "tool: the toolchain" in run.output
        assert "secret: hidden" in run.output, run.output
        assert "a secret inside the install" not in run.output
        assert "write: refused" in run.output
    finally:
        shutil.rmtree(install, ignore_errors=True)
