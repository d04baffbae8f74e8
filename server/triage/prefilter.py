"""Literal prefilters: for a regex, substrings of which every match must contain one.

Python's ``re`` scans case-insensitive patterns character by character; a plain substring test
(``in``, C speed) on the case-folded text rules most patterns out first. The literals come from
the pattern's parse tree; when a pattern has none worth using, it is always run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# The parser behind re.compile (private; Python 3.11+ names). If it is missing or changes shape,
# patterns simply get no prefilter: slower, never wrong.
_p: Any = getattr(re, "_parser", None)
_c: Any = getattr(re, "_constants", None)

Literals = frozenset[str]
MIN_LITERAL = 3


def _score(literals: Literals) -> tuple[int, int]:
    return (min(len(text) for text in literals), -len(literals))


def _required(items: Iterable[tuple[Any, Any]]) -> Literals | None:
    """The best set of alternatives one of which every match of this sequence contains."""
    assert _c is not None
    best: Literals | None = None
    run: list[str] = []

    def consider(candidate: Literals | None) -> None:
        nonlocal best
        usable = bool(candidate) and min(len(text) for text in candidate or ()) >= MIN_LITERAL
        if candidate and usable and (best is None or _score(candidate) > _score(best)):
            best = candidate

    def flush() -> None:
        if run:
            consider(frozenset({"".join(run).casefold()}))
            run.clear()

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        flush()
        if op is _c.SUBPATTERN:
            consider(_required(av[-1]))
        elif op is _c.ATOMIC_GROUP:
            consider(_required(av))
        elif op is _c.BRANCH:
            branches = [_required(branch) for branch in av[1]]
            if all(branches):
                consider(frozenset().union(*(branch for branch in branches if branch)))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT) and av[0] >= 1:
            consider(_required(av[2]))
    flush()
    return best


def required_literals(pattern: str, flags: int = 0) -> Literals | None:
    """Case-folded substrings one of which any match contains; None when the pattern has no usable one."""
    if _p is None:
        return None
    try:
        found = _required(_p.parse(pattern, flags))
    except Exception:
        return None
    if found is None or any(not text.isascii() for text in found):
        return None  # case folding outside ASCII is not worth the risk of a false "cannot match"
    return found
