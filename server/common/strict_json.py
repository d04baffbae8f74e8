"""Untrusted JSON read strictly: nesting capped, lone UTF-16 surrogates refused, one parser for every body.

``json.loads`` turns ``"\\ud800"`` into a Python string no database or encoder accepts, and a deeply
nested body into a ``RecursionError``: both used to surface as 500s after the body was accepted.
pydantic's parser (the one FastAPI's own JSON bodies go through) refuses both with a ``ValueError``
that names the line and column.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import from_json

#: The parser's fixed nesting limit: deeper arrays or objects are refused ("recursion limit exceeded").
MAX_DEPTH = 200


def loads(data: bytes | str) -> Any:
    """The JSON value in ``data``; ``ValueError`` (with line and column) for anything that is not strict JSON."""
    return from_json(data)
