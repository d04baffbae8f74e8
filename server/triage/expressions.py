"""CEL conditions for routing rules: compiled once at load, evaluated against the incident's facts.

The library is ``common-expression-language`` (the ``cel`` module: Python bindings to the Rust
``cel-interpreter``). It is imported on first use, because importing it costs about 0.3 s and
most configurations have no CEL at all.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from types import ModuleType
from typing import Any

#: Names an expression can use (the activation ``facts_for_cel`` builds).
CEL_VARIABLES: frozenset[str] = frozenset(
    {
        "service",
        "source",
        "title",
        "error",
        "log",
        "severity",
        "severity_rank",
        "category",
        "repo",
        "confidence",
        "occurrences",
        "attempts",
        "labels",
    }
)


class ExpressionError(ValueError):
    """A CEL expression that does not compile, or fails or answers a non-boolean when evaluated."""


@cache
def _cel() -> ModuleType:
    return importlib.import_module("cel")


class Expression:
    """A compiled CEL expression that must answer a boolean."""

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._program: Any = _cel().compile(source)
        except (ValueError, RuntimeError) as exc:
            raise ExpressionError(f"CEL expression {source!r} does not compile: {_first_line(exc)}") from exc
        unknown = sorted(set(self._program.variables()) - CEL_VARIABLES - _bound_names(source))
        if unknown:
            known = ", ".join(sorted(CEL_VARIABLES))
            raise ExpressionError(f"CEL expression {source!r} uses unknown {unknown}; it may use {known}")

    def evaluate(self, activation: dict[str, Any]) -> bool:
        """True or False; ExpressionError for a runtime failure (missing key, type mismatch, non-bool)."""
        try:
            result = self._program.execute(activation)
        except Exception as exc:  # the bindings raise TypeError, KeyError, RuntimeError, ValueError
            raise ExpressionError(f"{type(exc).__name__}: {_first_line(exc)}") from exc
        if not isinstance(result, bool):
            raise ExpressionError(f"answered {type(result).__name__} {result!r}, expected true or false")
        return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _bound_names(source: str) -> set[str]:
    """Loop variables of comprehension macros (``labels.exists(k, k == "x")`` binds ``k``)."""
    return set(re.findall(r"\.(?:all|exists|exists_one|map|filter)\(\s*([A-Za-z_]\w*)\s*,", source))
