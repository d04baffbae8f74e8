"""The sandbox: one entry point, ``wrap``, that runs a command under bubblewrap with only chosen paths writable.

Code the server did not write (a repository's tests after an agent's change, an agent process)
runs as the server's user. Under ``bwrap`` it gets new user, PID, IPC, UTS and (unless the
spec allows the network) network namespaces; the whole filesystem read-only, so interpreters,
virtualenvs and toolchains are where they always are; a fresh ``/dev``, ``/proc`` (the server's
processes are invisible), a private ``/tmp`` and an empty ``/run`` (no host sockets); the hidden
paths covered (an empty tmpfs over a folder, ``/dev/null`` over a file); the writable paths bound
read-write on top. Mounts are applied parents first, so a writable worktree inside a hidden
``HEALER_HOME`` is bound again after the tmpfs that hides its parents, and a read-only path inside
a writable one (the worktree's ``.git`` file, which git follows) stays read-only.

The caller passes the environment (already scrubbed) through ``Popen``'s ``env``, starts the
wrapped argv in its own process group, and kills the group on timeout; ``--die-with-parent`` takes
everything inside down with it.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fixer.errors import SandboxUnavailable

log = logging.getLogger(__name__)

SandboxMode = Literal["required", "auto", "off"]
"""required: refuse without bwrap. auto: bwrap when present, else bare with a logged warning. off: opt-out, logged."""

#: What ``bwrap_path`` looks for when not told otherwise.
BWRAP = "bwrap"
#: Inside the sandbox only: a fresh tmpfs nobody else shares.
PRIVATE_TMP = "/tmp"  # noqa: S108


@dataclass(frozen=True)
class SandboxSpec:
    """What a sandboxed command may see and touch."""

    writable: tuple[Path, ...]
    """Bound read-write (the worktree; a runner's scratch folder). Each must exist."""
    hidden: tuple[Path, ...] = ()
    """Made invisible: HEALER_HOME, the config file, the database file, the clone cache, other worktrees."""
    network: bool = False
    """Share the host's network (and so its loopback services); off by default."""
    readonly: tuple[Path, ...] = ()
    """Kept read-only even inside a writable path (the worktree's ``.git`` file, which git would follow)."""
    visible: tuple[Path, ...] = ()
    """Shown read-only although under the private /tmp (an interpreter or virtualenv installed there).
    The running server's own installation is always among them (see ``own_installation``)."""


def own_installation() -> tuple[Path, ...]:
    """Where this Python and devops-healer's code live, when under /tmp: a clone and virtualenv made there
    would otherwise vanish under the private /tmp, and with them the interpreter a test or agent needs.
    Code, not secrets; anything hidden inside them stays hidden."""
    places = {Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parents[1]}
    return tuple(sorted(p for p in places if Path(os.path.realpath(p)).is_relative_to(PRIVATE_TMP)))


@functools.lru_cache(maxsize=8)
def _works(program: str) -> bool:
    """Whether ``program`` can actually create the namespaces (it may exist and still be refused)."""
    probe = [program, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if done.returncode != 0:
        log.warning("bwrap at %s cannot create a sandbox here: %s", program, done.stderr.decode(errors="replace")[:300])
    return done.returncode == 0


def bwrap_path(program: str = BWRAP) -> str | None:
    """Where bwrap is (``program`` is a name looked up on PATH, or a path), None when it is missing or
    cannot create namespaces here (user namespaces switched off). The probe runs once per path."""
    found = shutil.which(program)
    if found is None:
        return None
    resolved = str(Path(found).resolve())
    return resolved if _works(resolved) else None


def unavailable_message(program: str = BWRAP) -> str:
    return (
        f"the test sandbox is unavailable: bubblewrap ({program}) is missing or cannot create user namespaces on "
        'this machine. Install it (Debian/Ubuntu: apt-get install bubblewrap) or set sandbox = "off" for this '
        "repository in healer.toml to run the tests without a sandbox, as the server's user."
    )


def wrap(
    argv: Sequence[str], spec: SandboxSpec, mode: SandboxMode, *, bwrap: str = BWRAP, cwd: Path | None = None
) -> list[str]:
    """``argv`` wrapped in bwrap; unchanged for ``off`` and for ``auto`` without bwrap (both logged).

    Raises SandboxUnavailable when ``mode`` is ``required`` and bwrap is missing or does not work.
    ``bwrap`` names the program to use (a name on PATH or a path). ``cwd``, the folder the caller
    starts the command in, is entered inside too: without it bwrap quietly falls back to ``$HOME``
    when that folder is hidden, and with it the run fails saying so.
    """
    command = list(argv)
    if mode == "off":
        log.warning("sandbox = off: running %s without a sandbox, as the server's user", command[:1])
        return command
    program = bwrap_path(bwrap)
    if program is None:
        if mode == "required":
            raise SandboxUnavailable(unavailable_message(bwrap))
        log.warning("sandbox = auto and bubblewrap is unavailable: running %s without a sandbox", command[:1])
        return command
    chdir = ["--chdir", os.path.realpath(cwd)] if cwd is not None else []
    return [program, *bwrap_arguments(spec), *chdir, "--", *command]


def bwrap_arguments(spec: SandboxSpec) -> list[str]:
    """The bwrap options for ``spec`` (without the program and the command)."""
    args = [
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the server's terminal
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        PRIVATE_TMP,
        "--tmpfs",
        "/run",  # host sockets (a database's, a container engine's) live here and stay out of reach
        "--setenv",
        "TMPDIR",
        PRIVATE_TMP,  # the only writable temporary folder inside
    ]
    for kept in _KEPT_FROM_RUN:
        if Path(kept).exists():
            args += ["--ro-bind", kept, kept]  # a toolchain found through /run (NixOS's PATH) stays found
    if not spec.network:
        args.append("--unshare-net")
    else:
        resolver = Path(os.path.realpath("/etc/resolv.conf"))
        if resolver.is_relative_to("/run") and resolver.exists():
            args += ["--ro-bind", str(resolver), str(resolver)]  # systemd-resolved's file, under the empty /run
    for path, kind in _mounts(spec):
        if kind == "writable":
            args += ["--bind", str(path), str(path)]
        elif kind in ("readonly", "visible"):
            args += ["--ro-bind", str(path), str(path)]
        elif path.is_dir():
            args += ["--tmpfs", str(path)]
        else:
            args += ["--ro-bind", "/dev/null", str(path)]
    return args


#: What under the empty /run holds programs rather than sockets.
_KEPT_FROM_RUN = ("/run/current-system",)
_ORDER = {"visible": -1, "writable": 0, "readonly": 1, "hidden": 2}


def _mounts(spec: SandboxSpec) -> list[tuple[Path, str]]:
    """Every path resolved through its symlinks (bwrap mounts on the real path), parents before children;
    on the same path, hidden wins. Hidden paths that do not exist, or that the private /tmp and /run
    already hide, are left out."""
    found: dict[tuple[Path, str], None] = {}
    shown = [Path(os.path.realpath(path)) for path in (*spec.visible, *own_installation())]
    for real in shown:
        if real.exists():
            found[(real, "visible")] = None
    for path in spec.writable:
        real = Path(os.path.realpath(path))
        if not real.is_dir():
            raise FileNotFoundError(f"a writable sandbox path must be an existing folder: {path}")
        found[(real, "writable")] = None
    for path in spec.readonly:
        real = Path(os.path.realpath(path))
        if real.exists():
            found[(real, "readonly")] = None
    for path in spec.hidden:
        real = Path(os.path.realpath(path))
        under_private = real.is_relative_to(PRIVATE_TMP) and not any(real.is_relative_to(v) for v in shown)
        if real.exists() and not under_private and not real.is_relative_to("/run"):
            found[(real, "hidden")] = None
    return sorted(found, key=lambda item: (len(item[0].parts), _ORDER[item[1]], str(item[0])))
