"""The walk of one call through the layers: which of our modules call which, and how often a call climbs.

A call climbs when a module of a lower layer calls into a higher one (the fixer calling back into
``server.fixing.submit``, the store calling into triage). A use case that reads well goes down and comes back
once: zero climbs. ``Walk.trace`` records, with ``sys.setprofile``, every call from one of our
modules into another while the function it wraps runs.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

FACES, USE_CASES, DOMAIN, STORE, PLUMBING = 5, 4, 3, 2, 1

#: Module prefixes and their layer, longest prefix first wins; the rest of server/ is domain.
LAYERS: dict[str, int] = {
    "server.api": FACES,
    "server.commands": FACES,
    "server.dashboard": FACES,
    "server.cli": FACES,
    "tools": FACES,
    "server.fixing.submit": USE_CASES,
    "server.approvals.answers": USE_CASES,
    "server.approvals.records": USE_CASES,
    "server.review.reviews": USE_CASES,
    "server.review.local_review": USE_CASES,
    "server.triage.retriage": USE_CASES,
    "server.store": STORE,
    "fixer": STORE,  # below the domain: it knows nothing of incidents, and is handed what it calls
    "fixer.models": PLUMBING,  # the fixer's data types, like server.models
    "fixer.errors": PLUMBING,
    "server.config": PLUMBING,
    "server.common.settings": PLUMBING,
    "server.models": PLUMBING,
    "server.fixing.models": PLUMBING,
    "server.review.models": PLUMBING,
    "server.errors": PLUMBING,
    "server.common.logs": PLUMBING,
    "server.common.redact": PLUMBING,
    "server.common.clock": PLUMBING,
    "server.fixing.sandboxing": PLUMBING,
    "server.common.strict_json": PLUMBING,
    "server.common.untrusted": PLUMBING,
    "server.common.credentials": PLUMBING,
}
OURS = ("server", "tools", "fixer")
#: Code objects that run as part of their caller, not as a call of theirs (a lazy import runs `<module>`).
_NOT_CALLS = frozenset({"<module>", "<genexpr>", "<listcomp>", "<dictcomp>", "<setcomp>"})


def layer(module: str) -> int:
    best = ""
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return LAYERS[best] if best else DOMAIN


def _ours(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if isinstance(name, str) and name.split(".")[0] in OURS else None


@dataclass
class Walk:
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    order: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def climbs(self) -> Counter[tuple[str, str]]:
        return Counter({edge: n for edge, n in self.calls.items() if layer(edge[1]) > layer(edge[0])})

    def steps_of(self, module: str) -> list[str]:
        """The modules ``module`` called, in the order it called them."""
        return [callee for caller, callee in self.order if caller == module]

    def returns_up(self, module: str) -> int:
        """How often ``module``'s own walk turns back up: a call into a higher layer than its previous call's."""
        ranks = [layer(callee) for callee in self.steps_of(module)]
        return sum(1 for before, after in itertools.pairwise(ranks) if after > before)

    def summary(self) -> str:
        lines = [f"{self.total} calls between modules, {sum(self.climbs.values())} climbs"]
        lines += [f"  climb {caller} -> {callee} x{n}" for (caller, callee), n in sorted(self.climbs.items())]
        return "\n".join(lines)

    @contextmanager
    def trace(self) -> Iterator[Walk]:
        def profile(frame: FrameType, event: str, arg: Any) -> None:
            if event != "call":
                return
            callee = _ours(frame)
            if callee is None:
                return
            caller_frame = frame.f_back
            while caller_frame is not None and _ours(caller_frame) is None:
                caller_frame = caller_frame.f_back
            caller = _ours(caller_frame) if caller_frame is not None else None
            if caller is not None and caller != callee and frame.f_code.co_name not in _NOT_CALLS:
                self.calls[(caller, callee)] += 1
                self.order.append((caller, callee))

        previous = sys.getprofile()
        sys.setprofile(profile)
        threading.setprofile(profile)
        try:
            yield self
        finally:
            sys.setprofile(previous)
            threading.setprofile(None)  # type: ignore[arg-type]


def walk_of(call: Callable[[], object]) -> Walk:
    """Run ``call`` and return its walk."""
    walk = Walk()
    with walk.trace():
        call()
    return walk
