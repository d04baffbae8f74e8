"""After a crash: fixes whose process died go back to the queue, and their attempt directories go.

Run at start by every process that runs fixes. A fix records the process running it (host, pid and
the pid's start time); one held by a process on this host that is gone is released now, recorded on
the timeline, rather than waiting for its lease. A fix held on another host is never judged from here:
its lease decides, so one replica never releases another live replica's work.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from fixer import owner
from fixer.workspace import Workspace
from server.errors import HealerError
from server.models import Status
from server.store import Store, writes
from server.store.queries import incident_row
from server.store.rows import public_id
from server.store.schema import incidents

log = logging.getLogger(__name__)
_ONCE = threading.Lock()
_done: set[Path] = set()


@dataclass
class Recovered:
    released: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def release_dead_fixes(store: Store) -> list[str]:
    """Release ``fixing`` incidents whose recorded process ran on this host and is gone."""
    query = select(incidents).where(incidents.c.status == Status.fixing.value, incidents.c.fix_owner.is_not(None))
    with store.read() as connection:
        rows = [row for row in connection.execute(query).all() if owner.is_gone(row.fix_owner)]
    released: list[str] = []
    for row in rows:
        ident = public_id(row)
        try:
            with store.write() as connection:
                current = incident_row(connection, ident, for_update=True)
                if current.status != Status.fixing.value or current.fix_owner != row.fix_owner:
                    continue  # finished, or taken up again, meanwhile
                pid = str(row.fix_owner).split("|")[1]
                writes.release(
                    connection,
                    ident,
                    now=store.clock.now(),
                    actor="system",
                    reason=f"the process running the fix (pid {pid} on this host) is gone",
                    row=current,
                )
                released.append(ident)
        except HealerError:
            log.debug("fix of %s already released", ident, exc_info=True)
    return released


def recover(store: Store, workspace_root: Path) -> Recovered:
    """Both sweeps; logs what it did."""
    done = Recovered(released=release_dead_fixes(store), removed=Workspace(workspace_root).sweep_stale())
    if done.released:
        log.warning("released %d fix(es) whose process is gone: %s", len(done.released), ", ".join(done.released))
    if done.removed:
        log.info("removed %d attempt directories left by processes that are gone", len(done.removed))
    return done


def recover_once(store: Store, workspace_root: Path) -> None:
    """:func:`recover`, the first time a process is about to run a fix (``healer mcp`` starts for every
    agent session, so its start-up does not pay for it)."""
    with _ONCE:
        if workspace_root in _done:
            return
        _done.add(workspace_root)
    try:
        recover(store, workspace_root)
    except Exception:  # recovery must never stop the fix the agent asked for
        log.exception("recovering after dead processes failed")
