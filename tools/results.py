"""Tool results: structured content plus the same JSON, compact, as text for clients that read text."""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel


def result(model: BaseModel) -> CallToolResult:
    """The model as structured content and as compact JSON text.

    The SDK's default text form is indented JSON, about twice the bytes; every client and model
    reads the compact form as well, and agents call some tools (the queue) very often.
    """
    structured = model.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=model.model_dump_json())], structured_content=structured
    )
