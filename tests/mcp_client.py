"""A real MCP client session over stdio: the official SDK's client launching `healer mcp` as a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.types import CallToolResult, Implementation

from tests.conftest import HEALER


@asynccontextmanager
async def stdio_session(env: dict[str, str], *args: str, name: str = "test-agent") -> AsyncIterator[Client]:
    params = StdioServerParameters(command=HEALER, args=["mcp", *args], env=env)
    async with Client(params, client_info=Implementation(name=name, version="1"), read_timeout_seconds=60) as client:
        yield client


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(getattr(block, "text", "") for block in result.content)
