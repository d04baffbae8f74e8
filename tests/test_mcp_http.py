"""MCP over streamable HTTP at /mcp: same store, same bearer token, Host/Origin checks against DNS rebinding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import healer_env, start_server, wait_until_triaged
from tests.mcp_client import structured

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_http_mcp_shares_the_store_and_the_token(healer_home: Path, tmp_path: Path) -> None:
    env = healer_env(healer_home, HEALER_API_TOKEN="tok-123456-abcdef789")
    server = start_server(env, tmp_path / "server.log")
    auth = {"Authorization": "Bearer tok-123456-abcdef789"}
    try:
        created = httpx.post(f"{server.url}/incidents", json={"service": "payments", "error": "boom"}, headers=auth)
        assert created.status_code == 202
        wait_until_triaged(server.url, created.json()["id"], headers=auth)
        assert httpx.post(f"{server.url}/mcp", json=INIT, headers=HEADERS).status_code == 401
        rebinding = httpx.post(f"{server.url}/mcp", json=INIT, headers={**HEADERS, **auth, "Host": "evil.example:80"})
        assert rebinding.status_code == 421  # a foreign Host: Misdirected Request, as the MCP SDK answers it
        foreign_origin = httpx.post(
            f"{server.url}/mcp", json=INIT, headers={**HEADERS, **auth, "Origin": "http://evil.example"}
        )
        assert foreign_origin.status_code == 403

        async def agent() -> dict[str, object]:
            http = httpx.AsyncClient(headers=auth, timeout=30)
            async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as client:
                return structured(await client.call_tool("get_pending_incidents", {}))

        pending = asyncio.run(agent())
        assert [i["id"] for i in pending["incidents"]] == [created.json()["id"]]  # type: ignore[index]
    finally:
        server.stop()


def test_non_loopback_bind_without_token_refuses_to_start(healer_home: Path, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import HEALER

    done = subprocess.run(
        [HEALER, "serve", "--host", "0.0.0.0", "--port", "1"],
        env=healer_env(healer_home),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "without an API token" in done.stderr and "HEALER_API_TOKEN" in done.stderr
