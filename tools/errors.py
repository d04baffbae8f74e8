"""Our errors as MCP tool and resource errors: the one place the MCP face translates them.

Only the text of a raised ToolError reaches the model, so each message already says what was
wrong and what to call next. ``TOOL_TEXT`` maps an error class to that text; an error reads as
the first class in its MRO that the table lists, and anything the table does not list is not
ours (the SDK reports it as an unexpected failure, its text kept on the server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import ValidationError

from fixer.errors import FixerError
from server.errors import HealerError, IncidentNotFound

log = logging.getLogger(__name__)
T = TypeVar("T")


def _message(exc: HealerError | FixerError) -> str:
    return exc.message


#: Error class -> the text the agent reads; the nearest class in the error's MRO decides.
TOOL_TEXT: dict[type[Exception], Callable[[Any], str]] = {
    HealerError: _message,  # the core's messages say what was wrong and the next call to make
    FixerError: _message,  # the fixer's name the rule or the hunk, and how to resend the change
}
#: Error class -> the resource error it raises (a missing incident is "not found" to the client).
RESOURCE_ERRORS: dict[type[Exception], type[ResourceError]] = {
    IncidentNotFound: ResourceNotFoundError,
    HealerError: ResourceError,
}


def _nearest(table: Mapping[type[Exception], T], exc: BaseException) -> T | None:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


def tool_text(exc: BaseException) -> str | None:
    """What the agent reads for one of our errors; None for an error that is not ours."""
    text = _nearest(TOOL_TEXT, exc)
    return None if text is None else text(exc)


@contextmanager
def agent_errors() -> Iterator[None]:
    """Run a tool's body: our errors leave it as a ToolError carrying the table's text."""
    try:
        yield
    except Exception as exc:
        text = tool_text(exc)
        if text is None:
            raise
        log.info("tool refused: %s", text)
        raise ToolError(text) from exc


@contextmanager
def resource_errors() -> Iterator[None]:
    """Read a resource: our errors leave it as the table's resource error, with the same text."""
    try:
        yield
    except Exception as exc:
        kind = _nearest(RESOURCE_ERRORS, exc)
        if kind is None:
            raise
        raise kind(str(exc)) from exc


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
