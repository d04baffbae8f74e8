"""Tool results: structured content plus the same JSON, compact, as text for clients that read text."""

from __future__ import annotations

from typing import Any

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel
from pydantic_core import to_json


def result(model: BaseModel) -> CallToolResult:
    """The model as structured content and as compact JSON text.

    The SDK's default text form is indented JSON, about twice the bytes; every client and model
    reads the compact form as well, and agents call some tools (the queue) very often. The model
    is serialized once; the text is that JSON-ready data written out, which is what
    ``model.model_dump_json()`` writes too.
    """
    return data_result(model.model_dump(mode="json"))


def data_result(data: dict[str, Any]) -> CallToolResult:
    """Like ``result``, for JSON-ready data (strings, numbers, booleans, None, lists and dicts of
    them) already shaped as the tool's output model, from the store say: written out without
    building the model first."""
    return CallToolResult(content=[TextContent(type="text", text=to_json(data).decode())], structured_content=data)
