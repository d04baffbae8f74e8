"""What an agent reads over a real stdio MCP session: tool descriptions, and argument errors in words."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import healer_env
from tests.mcp_client import error_text, stdio_session


def test_descriptions_have_no_docstring_indentation_and_argument_errors_name_each_argument(
    healer_home: Path,
) -> None:
    async def agent() -> tuple[dict[str, str], str, str]:
        async with stdio_session(healer_env(healer_home)) as client:
            tools = {tool.name: tool.description or "" for tool in (await client.list_tools()).tools}
            wrong = await client.call_tool("get_pending_incidents", {"limit": 500, "severity": "urgent"})
            missing = await client.call_tool("claim_incident", {})
            return tools, error_text(wrong), error_text(missing)

    tools, wrong, missing = asyncio.run(agent())
    pending = tools["get_pending_incidents"]
    assert "\n\nIncludes pull requests" in pending and "\n " not in pending
    assert all("\n    " not in text for text in tools.values()), [n for n, t in tools.items() if "\n    " in t]
    for text in (wrong, missing):
        assert "pydantic" not in text and "https://" not in text and "Arguments" not in text, text
    assert wrong.startswith("get_pending_incidents was called with wrong arguments: ")
    assert "`limit` must be less than or equal to 50 (How many incidents to return)." in wrong
    assert "`severity` must be 'critical', 'high', 'medium' or 'low'" in wrong
    assert "`incident_id` is required" in missing
