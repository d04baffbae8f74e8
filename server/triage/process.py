"""Triage in a process of its own, so routing the backlog uses a core that intake's interpreter does not.

In one process, triage and intake share one interpreter lock: every incident triage routes during
a storm is time the intake cannot answer in, so either intake slows down or the backlog grows.
`healer serve` therefore runs the triage worker in a child process on the same database (each
move is conditional on the incident still being received, as with several servers). Intake wakes
it with a byte on a pipe when something new arrives (a write that never blocks the event loop,
where a cross-process event's ``set`` waits for the woken process to run); it also looks every few
seconds regardless, and it stops when the server stops (or its parent is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import select
import time
from multiprocessing.connection import Connection

from server.config import HealerConfig

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")


class TriageProcess:
    """The app's handle on the triage child: ``wake()`` from intake, ``run()`` as a background job."""

    def __init__(
        self,
        url: str,
        config: HealerConfig,
        *,
        synchronous: str = "FULL",
        held_secrets: list[str] | None = None,
        idle_seconds: float = 2.0,
        batch: int = 100,
    ) -> None:
        self.url = url
        self.config = config
        self.synchronous = synchronous
        self.held_secrets = list(held_secrets or [])
        self.idle_seconds = idle_seconds
        self.batch = batch
        self._listen, self._wake = _SPAWN.Pipe(duplex=False)
        os.set_blocking(self._wake.fileno(), False)
        self._woken = 0.0

    def wake(self) -> None:
        # Called for every new incident; the child, once woken, reads everything received since,
        # so a byte every 50 ms is enough (and a full pipe already says "look").
        now = time.monotonic()
        if now - self._woken >= 0.05:
            self._woken = now
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake.fileno(), b"\0")

    async def run(self) -> None:
        """Keep the child running until cancelled (a child that dies is started again)."""
        while True:
            process = _SPAWN.Process(
                target=serve_triage,
                args=(self.url, self.config, self.synchronous, self.held_secrets, self._listen),
                kwargs={"idle_seconds": self.idle_seconds, "batch": self.batch, "parent": os.getpid()},
                name="healer-triage",
                daemon=True,
            )
            process.start()
            try:
                while process.is_alive():
                    await asyncio.sleep(1.0)
            finally:
                if process.is_alive():
                    process.terminate()
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(process.join, 10)
            log.warning("the triage process exited (code %s); starting it again", process.exitcode)
            await asyncio.sleep(1.0)


def serve_triage(
    url: str,
    config: HealerConfig,
    synchronous: str,
    held_secrets: list[str],
    wake: Connection,
    *,
    idle_seconds: float,
    batch: int,
    parent: int,
) -> None:
    """The child's loop: triage batch after batch while any incident is received, then wait to be woken."""
    from server.approvals import records as approvals
    from server.common.redact import hold_secrets
    from server.store import Store
    from server.triage.decide import Triage
    from server.triage.worker import triage_received

    hold_secrets(held_secrets)  # every text triage writes is redacted of the server's own secrets
    store = Store.open(url, synchronous=synchronous, migrate=False)
    rules = Triage(config)
    active = time.monotonic()  # when it last had work or was woken
    while os.getppid() == parent:
        try:
            done = triage_received(store, rules.decide, approval=rules.approval, limit=batch)
            approvals.expire_due(store)
        except Exception:
            log.exception("triage failed; retrying shortly")
            done = 0
        if done:
            active = time.monotonic()
            continue
        # Shortly after work it looks again soon: a wake skipped within 50 ms of the last is covered.
        recent = time.monotonic() - active < 1.0
        readable, _, _ = select.select([wake.fileno()], [], [], 0.05 if recent else idle_seconds)
        if readable:
            active = time.monotonic()
            os.read(wake.fileno(), 65536)  # every wake so far: this round reads all they announced
