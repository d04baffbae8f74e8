"""The README's MCP client configurations, checked against the shape each client documents.

Claude Desktop and Cursor read ``{"mcpServers": {NAME: {"command", "args", "env"}}}`` (Cursor also
``{"url", "headers"}`` for remote servers); Cline adds ``disabled`` and ``autoApprove`` (tool names);
VS Code reads ``{"servers": {NAME: {"type": "stdio", "command", ...}}}`` or ``{"type": "http", "url",
"headers"}``, with ``inputs`` for values it prompts for (``${input:ID}``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
ARGS = {"type": "array", "items": {"type": "string"}}
STDIO = {"command": {"type": "string", "minLength": 1}, "args": ARGS, "env": STRINGS}


def servers_schema(key: str, server: dict[str, Any], required: list[str]) -> dict[str, Any]:
    entry = {"type": "object", "properties": server, "required": required, "additionalProperties": False}
    return {
        "type": "object",
        "properties": {
            key: {"type": "object", "additionalProperties": entry, "minProperties": 1},
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["promptString", "pickString"]},
                        "id": {"type": "string"},
                        "description": {"type": "string"},
                        "password": {"type": "boolean"},
                    },
                    "required": ["type", "id"],
                    "additionalProperties": False,
                },
            },
        },
        "required": [key],
        "additionalProperties": False,
    }


SCHEMAS = {
    "claude-desktop-cursor": servers_schema("mcpServers", STDIO, ["command"]),
    "cline": servers_schema(
        "mcpServers",
        {**STDIO, "disabled": {"type": "boolean"}, "autoApprove": ARGS},
        ["command"],
    ),
    "vscode-stdio": servers_schema("servers", {"type": {"const": "stdio"}, **STDIO}, ["type", "command"]),
    "vscode-http": servers_schema(
        "servers", {"type": {"const": "http"}, "url": {"type": "string"}, "headers": STRINGS}, ["type", "url"]
    ),
    "cursor-http": servers_schema("mcpServers", {"url": {"type": "string"}, "headers": STRINGS}, ["url"]),
}


def json_blocks() -> list[dict[str, Any]]:
    """Every client configuration in the README: the ```json blocks and the inline Cursor one."""
    text = README.read_text()
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    inline = re.findall(r"Cursor: `(\{\"mcpServers\".*?\})`", text)
    return [b for b in blocks if "mcpServers" in b or "servers" in b] + [json.loads(i) for i in inline]


def kind_of(config: dict[str, Any]) -> str:
    if "servers" in config:
        (entry,) = config["servers"].values()
        return f"vscode-{entry['type']}"
    (entry,) = config["mcpServers"].values()
    if "url" in entry:
        return "cursor-http"
    return "cline" if "autoApprove" in entry else "claude-desktop-cursor"


def test_the_readme_shows_every_client() -> None:
    kinds = sorted(kind_of(config) for config in json_blocks())
    assert kinds == sorted(SCHEMAS)


@pytest.mark.parametrize("config", json_blocks(), ids=kind_of)
def test_each_configuration_has_its_clients_shape(config: dict[str, Any]) -> None:
    jsonschema.validate(config, SCHEMAS[kind_of(config)])
    (entry,) = (config.get("servers") or config["mcpServers"]).values()
    if "command" in entry:
        # The command this project installs, run as the stdio server.
        assert entry["command"].endswith("/healer") and entry["args"] == ["mcp"]
    else:
        assert entry["url"].endswith("/mcp") and entry["headers"]["Authorization"].startswith("Bearer ")
    declared = {item["id"] for item in config.get("inputs", [])}
    assert set(re.findall(r"\$\{input:([^}]+)\}", json.dumps(config))) <= declared


def test_cline_auto_approves_only_the_tools_that_read() -> None:
    (cline,) = [config for config in json_blocks() if kind_of(config) == "cline"]
    (entry,) = cline["mcpServers"].values()
    # The tools `healer mcp --read-only` offers (pinned by tests/test_mcp_stdio.py over a real client).
    reading = {"get_pending_incidents", "get_incident_details", "get_repository_context", "get_fix_feedback"}
    assert set(entry["autoApprove"]) == reading
