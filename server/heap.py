"""The cyclic garbage collector's settings for the long-running server.

With CPython's default threshold (a young-generation collection every 700 net new container
objects) a server holding dozens of requests in flight collects over a hundred times a second,
and each full collection walks every object the imports and the app built: under sustained
intake that was a quarter of the event loop's time (bench/bench_ingest.py). What start-up built
lives as long as the process, so it is frozen out of collections, and the young generation
collects less often. Memory stays bounded: reference counting frees everything that is not in
a cycle at once, and cycles are still collected, every 10,000 net new objects.
"""

from __future__ import annotations

import gc

#: Net new container objects between young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle_for_serving() -> None:
    """Call once the app is built, before serving: freeze what exists and collect less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
