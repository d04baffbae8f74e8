"""Our errors as MCP tool errors: the one place the MCP face translates them.

Only the text of a raised ToolError reaches the model, so each message already says what was
wrong and what to call next; this adapter adds nothing but the translation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from fixer.errors import FixerError
from server.errors import HealerError

log = logging.getLogger(__name__)


@contextmanager
def agent_errors() -> Iterator[None]:
    try:
        yield
    except HealerError as exc:
        log.info("tool refused: %s", exc.message)
        raise ToolError(exc.message) from exc
    except FixerError as exc:
        log.info("fix refused: %s", exc.message)
        raise ToolError(exc.message) from exc


def describe_arguments(tool: str, exc: ValidationError, schema: Mapping[str, Any]) -> str:
    """One sentence per wrong argument, naming it and what it accepts, for the model to correct its call
    (pydantic's own text carries model names and documentation URLs the agent cannot use)."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    sentences = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "the arguments"
        message = str(error["msg"])
        if error["type"] == "missing":
            what = "is required"
        elif message.startswith("Input should be "):
            what = "must be " + message.removeprefix("Input should be ")
        elif message.startswith(("String should", "List should", "Value should")):
            what = "must" + message.split(" should", 1)[1]
        else:
            what = "is not accepted: " + message[:1].lower() + message[1:]
        described = properties.get(str(error["loc"][0]), {}).get("description") if error["loc"] else None
        sentences.append(f"`{name}` {what}" + (f" ({described.rstrip('.')})" if described else "") + ".")
    return f"{tool} was called with wrong arguments: " + " ".join(sentences)
