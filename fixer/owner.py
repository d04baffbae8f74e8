"""Which process runs a fix: host, pid and the pid's start time, so a reused pid is not mistaken for it."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

_SEP = "|"
_PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux); None where there is no such file."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    return stat[stat.rfind(")") + 2 :].split()


def _start_ticks(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (field 22 of its stat)."""
    fields = _stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but running
    fields = _stat(pid)
    return not (fields and fields[0] == "Z")  # a zombie has finished


def host() -> str:
    return socket.gethostname()


@functools.cache
def identity() -> str:
    """This process as ``host|pid|start``: what a fix in progress and an attempt directory record."""
    pid = os.getpid()
    return _SEP.join((host(), str(pid), _start_ticks(pid) or "0"))


def token() -> str:
    """This process in a form fit for a directory name (``pid-start``: the directory is on this host)."""
    _, pid, start = identity().split(_SEP)
    return f"{pid}-{start}"


def alive_here(pid: int, start: str) -> bool:
    """Is the process ``pid`` that started at ``start`` still running on this host? A pid reused by a
    newer process has another start time; without /proc, a running pid is given the benefit of the doubt."""
    if not _running(pid):
        return False
    ticks = _start_ticks(pid)
    return ticks is None or start == "0" or ticks == start


def is_gone(owner: str) -> bool:
    """True only when ``owner`` ran on this host and its process is gone; another host's process is
    never judged from here (its lease decides)."""
    parts = owner.split(_SEP)
    if len(parts) != 3 or parts[0] != host() or not parts[1].isdigit():
        return False
    return not alive_here(int(parts[1]), parts[2])


def token_is_gone(name: str) -> bool:
    """For an attempt directory named ``attempt-<pid>-<start>-...``: is the process that made it gone?"""
    parts = name.split("-")
    if len(parts) < 4 or not parts[1].isdigit():
        return False
    return not alive_here(int(parts[1]), parts[2])
