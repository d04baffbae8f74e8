"""The store's hooks into the layers above it: what a move announces, and how a failed attempt counts.

The store knows neither the notification outbox nor the retry policy; whoever builds the
``Store`` passes a ``StoreHooks`` (``server.hooks.STANDARD`` in the server), and every
connection the store's engine hands out carries them (the ``healer_hooks`` execution option),
so ``writes`` finds them on the connection it is given. A connection without hooks, such as
one from an engine built without a ``Store``, gets the standard ones, so that no caller loses
its announcements by forgetting to wire them.
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from server.models import Status
from server.store.rows import AnyRow

#: The execution option that carries a store's hooks on its engine and connections.
OPTION = "healer_hooks"


class TransitionHook(Protocol):
    """Called inside the transaction of every move, with the incident as it is after it."""

    def __call__(
        self, connection: Connection, row: AnyRow, frm: Status, to: Status, *, now: datetime, detail: dict[str, Any]
    ) -> None: ...


class FailedAttemptHook(Protocol):
    """Counts an agent's failed attempt and moves the incident; returns the moved row."""

    def __call__(
        self,
        connection: Connection,
        incident_id: str,
        *,
        agent: str,
        error: str,
        permanent: bool,
        now: datetime,
        max_attempts: int,
        rng: random.Random,
        row: AnyRow | None = None,
    ) -> AnyRow: ...


@dataclass(frozen=True)
class StoreHooks:
    """What the store calls in the layers above it, inside the caller's transaction."""

    on_transition: TransitionHook
    on_failed_attempt: FailedAttemptHook


def attach(engine: Engine, hooks: StoreHooks) -> None:
    """Let every connection of ``engine`` carry ``hooks`` from now on."""
    engine.update_execution_options(**{OPTION: hooks})


def hooks_for(connection: Connection) -> StoreHooks:
    """The hooks of the store that opened ``connection``, or the standard ones."""
    hooks = connection.get_execution_options().get(OPTION)
    return hooks if isinstance(hooks, StoreHooks) else standard()


@cache
def standard() -> StoreHooks:
    """The server's hooks, found by name when the store's builder passed none (looked up at the first
    move, never at import, so importing the store loads nothing above it)."""
    hooks = importlib.import_module("server.hooks").STANDARD
    if not isinstance(hooks, StoreHooks):  # pragma: no cover - a wiring mistake, caught by any store test
        raise TypeError(f"server.hooks.STANDARD is {type(hooks).__name__}, not StoreHooks")
    return hooks
