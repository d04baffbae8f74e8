"""The guard in front of /mcp for run tokens: a run's agent may work on its own incident, while its run lasts.

A request carrying a run token (``Authorization: Bearer hrt_...``) is let through only when the
token belongs to a running run, and each JSON-RPC message in it stays inside that run's scope:
its incident's details, repository context and feedback, and claim / submit_fix / report_fix_status
on that incident, always as the run's own claim holder (``run:<id>``; whatever name the agent gives
is replaced). Anything else is refused with a message the model can read. Requests without a run
token pass untouched: the API token guard in front decides about them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.agents import lifecycle, tokens
from server.agents.lifecycle import RunScope
from server.errors import RunScopeRefused
from server.store import Store

#: Tools a run may call -> whether they act as the claim holder (the run's name is put in `agent`).
RUN_TOOLS: dict[str, bool] = {
    "get_incident_details": False,
    "get_repository_context": False,
    "get_fix_feedback": False,
    "claim_incident": True,
    "submit_fix": True,
    "report_fix_status": True,
}
#: Methods that touch no incident.
_NEUTRAL = frozenset(
    {
        "initialize",
        "ping",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    }
)


def bearer(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, credential = value.decode("latin-1").partition(" ")
            return credential.strip() if kind.lower() == "bearer" else ""
    return ""


def check_message(message: Any, run: RunScope) -> str | None:
    """None when the message stays in the run's scope, else why not. Fills in the run's agent name."""
    if not isinstance(message, dict):
        return "not a JSON-RPC message"
    method = message.get("method")
    if method is None or not isinstance(method, str):  # a response to the server (e.g. to a ping)
        return None
    own = run.incident_id
    if method.startswith("notifications/") or method in _NEUTRAL:
        return None
    found = message.get("params")
    params: dict[str, Any] = found if isinstance(found, dict) else {}
    if method == "resources/read":
        uri = str(params.get("uri", ""))
        if uri in (f"incident://{own}", f"incident://{own}/postmortem"):
            return None
        return f"this run may read only incident://{own}; {uri!r} is outside its scope"
    if method != "tools/call":
        return f"{method} is not available to an agent run"
    name = params.get("name")
    arguments = params.get("arguments")
    if not isinstance(arguments, dict):
        arguments = {}
        params["arguments"] = arguments
    if name not in RUN_TOOLS:
        hint = " (call report_fix_status with status 'failed' to give it back)" if name == "release_incident" else ""
        return (
            f"{name} is not available to this run{hint}. This run works on incident {own} only, with "
            f"{', '.join(RUN_TOOLS)}."
        )
    asked = arguments.get("incident_id")
    if name == "get_repository_context":
        if asked not in (None, own):
            return f"this run may read code for incident {own} only, not {asked}"
        if run.repo is not None and arguments.get("repo") != run.repo:
            return f"this run may read repository {run.repo!r} only (incident {own}'s repository)"
    elif asked != own:
        return (
            f"refused: this run's token is for incident {own} only; {asked} is outside its scope. "
            f"Work on {own}, then stop."
        )
    if RUN_TOOLS[name]:
        arguments["agent"] = run.agent
    return None


async def _json(send: Send, status: int, body: object) -> None:
    raw = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": raw})


def _refusal(message: Any, why: str) -> dict[str, Any]:
    ident = message.get("id") if isinstance(message, dict) else None
    if isinstance(message, dict) and message.get("method") == "tools/call":
        # A tool error, which the model reads and can act on, rather than a protocol error.
        return {"jsonrpc": "2.0", "id": ident, "result": {"content": [{"type": "text", "text": why}], "isError": True}}
    return {"jsonrpc": "2.0", "id": ident, "error": {"code": -32001, "message": why}}


class RunGate:
    """ASGI middleware for the /mcp route."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = bearer(scope) if scope["type"] == "http" else ""
        if not token or not tokens.looks_like_run_token(token):
            await self.app(scope, receive, send)
            return
        try:
            run = await asyncio.to_thread(lifecycle.scope, self.store, token)
        except RunScopeRefused as exc:
            await _json(send, 401, {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": exc.message}})
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            item = await receive()
            if item["type"] == "http.disconnect":
                return
            chunks.append(item.get("body", b""))
            if not item.get("more_body"):
                break
        try:
            payload = json.loads(b"".join(chunks) or b"null")
        except ValueError:
            await _json(send, 400, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "not JSON"}})
            return
        messages = payload if isinstance(payload, list) else [payload]
        for message in messages:
            why = check_message(message, run)
            if why is not None:
                await _json(send, 200 if _is_tool_call(message) else 403, _refusal(message, why))
                return
        body = json.dumps(payload).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def _is_tool_call(message: Any) -> bool:
    return isinstance(message, dict) and message.get("method") == "tools/call"


def guard_routes(routes: list[Any], store: Store) -> None:
    """Put the gate in front of the MCP app's routes (the SDK's Starlette routes for /mcp)."""
    for route in routes:
        if getattr(route, "path", None) == "/mcp" and hasattr(route, "app"):
            route.app = RunGate(route.app, store)
