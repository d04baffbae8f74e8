"""`healer mcp --connect URL`: a stdio MCP server that relays every message to a server's /mcp over HTTP.

For agent CLIs that start MCP servers only as local processes. The run token comes from the
relay's environment (``HEALER_RUN_TOKEN``, which the run's MCP config sets), never from its argv,
so it does not show in process listings.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

log = logging.getLogger(__name__)


async def _pump(source: Any, sink: Any, where: str) -> None:
    async for item in source:
        if isinstance(item, SessionMessage):
            await sink.send(item)
        else:
            log.warning("relay %s: %s", where, item)


async def relay(url: str, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx2.Timeout(30.0, read=600.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as client,
        streamable_http_client(url, http_client=client) as (remote_read, remote_write),
        stdio_server() as (local_read, local_write),
        anyio.create_task_group() as group,
    ):

        async def upstream() -> None:
            await _pump(local_read, remote_write, "to the server")
            group.cancel_scope.cancel()  # the agent closed stdin: the session is over

        group.start_soon(upstream)
        group.start_soon(_pump, remote_read, local_write, "from the server")


def run(url: str, token: str | None) -> None:
    anyio.run(relay, url, token)
