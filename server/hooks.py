"""The server's store hooks: a move is announced through the outbox, a failed attempt follows the retry policy."""

from __future__ import annotations

from server.fixing.attempts import record_failed_attempt
from server.notify.outbox import enqueue_for_transition
from server.store.hooks import StoreHooks

#: What every Store the server opens is built with (``Store.open(..., hooks=STANDARD)``).
STANDARD = StoreHooks(on_transition=enqueue_for_transition, on_failed_attempt=record_failed_attempt)
