#!/usr/bin/env python3
"""A stand-in for a headless coding agent CLI: no model, a script that speaks MCP like one.

devops-healer starts it as it would start `claude -p`: with the prompt and an MCP config file.
It connects to the server the config names with the official MCP client (over HTTP, or through
the stdio relay), reads the incident and its code, and fixes it with submit_fix, trying each
``--edit PATH OLD NEW`` it was given until one applies. Other modes misbehave on purpose, for the
runner's tests: hang, quit, crash, flood, trespass, linger, env, spend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MODES = ("fix", "hang", "quit", "crash", "flood", "trespass", "linger", "env", "spend")


def say(kind: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"type": kind, **fields}, default=str) + "\n")
    sys.stdout.flush()


def server_entry(config_file: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(Path(config_file).read_text())["mcpServers"]["healer"]
    return entry


def connect(entry: dict[str, Any]) -> Any:
    from mcp import Client

    if "url" in entry:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = httpx2.AsyncClient(headers=entry.get("headers", {}), timeout=httpx2.Timeout(30.0, read=600.0))
        return Client(streamable_http_client(entry["url"], http_client=http), read_timeout_seconds=600)
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=entry["command"], args=entry.get("args", []), env=entry.get("env"))
    return Client(params, read_timeout_seconds=600)


async def call(client: Any, tool: str, **arguments: Any) -> tuple[bool, Any]:
    result = await client.call_tool(tool, arguments)
    text = " ".join(getattr(block, "text", "") for block in result.content)
    data = result.structured_content if result.structured_content is not None else text
    say("tool_result", tool=tool, is_error=bool(result.is_error), content=data if result.is_error else "ok")
    return (not result.is_error), data


async def fix(client: Any, incident: str, edits: list[tuple[str, str, str]], follow_up: bool) -> int:
    if follow_up:
        await call(client, "get_fix_feedback", incident_id=incident)
    ok, details = await call(client, "get_incident_details", incident_id=incident)
    if not ok:
        return 2
    repo = details["repo"]
    await call(client, "get_repository_context", repo=repo, incident_id=incident)
    for path, old, new in edits:
        ok, outcome = await call(
            client,
            "submit_fix",
            incident_id=incident,
            change={"edits": [{"path": path, "old": old, "new": new}]},
            title=f"Fix {path}",
            explanation=f"The stand-in agent replaces {old!r} with {new!r} in {path}.",
            addresses=["the review's findings"] if follow_up else None,
        )
        if ok:
            say("result", subtype="success", pull_request=outcome.get("pull_request_url"))
            return 0
    await call(client, "report_fix_status", incident_id=incident, status="failed", notes="no edit applied")
    return 0


def approve(config_file: str, other: str) -> None:
    """Try the REST API with the run's token: approving is for people."""
    import httpx2

    entry = server_entry(config_file)
    base = entry["url"].removesuffix("/mcp")
    answer = httpx2.post(f"{base}/incidents/{other}/approve", json={"by": "standin"}, headers=entry["headers"])
    say("http", route="approve", status=answer.status_code, body=answer.text[:300])


async def linger(config_file: str, incident: str, out: Path) -> None:
    """Keep calling with the run's token after the run: every call must be refused once it has ended."""
    entry = server_entry(config_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with connect(entry) as client:
                result = await client.call_tool("get_incident_details", {"incident_id": incident})
                if result.is_error:
                    out.write_text("refused: " + " ".join(getattr(b, "text", "") for b in result.content))
                    return
        except Exception as exc:  # refused at the door: the token is no longer valid
            cause: BaseException = exc
            while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
                cause = cause.exceptions[0]
            out.write_text(f"refused: {type(cause).__name__}: {cause}")
            return
        await asyncio.sleep(0.3)
    out.write_text("still accepted after 60 seconds")


async def main(args: argparse.Namespace) -> int:
    found = re.search(r"INC-\d{8}-\d{4,}", args.prompt)
    if found is None:
        say("error", message="no incident id in the prompt")
        return 2
    incident = found.group(0)
    say("system", subtype="init", incident=incident, mode=args.mode)
    if args.mode == "env":
        say("environment", env=dict(os.environ), sees={path: Path(path).exists() for path in args.probe or []})
        return 0
    if args.mode == "crash":
        return 3
    if args.mode == "flood":
        line = "x" * 1023 + "\n"
        for _ in range(50 * 1024):
            sys.stdout.write(line)
        return 0
    if args.mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        if args.out:
            Path(args.out).write_text(f"{os.getpid()} {child.pid}")
        time.sleep(3600)
        return 0
    if args.mode == "spend":
        for cost in (0.05, 0.5, 5.0):
            say("result", subtype="success", is_error=False, total_cost_usd=cost, usage={})
            time.sleep(1)
        time.sleep(3600)
        return 0
    if args.mode == "linger":
        # Its own session: the run's process group is killed at the end, this copy is meant to outlive it.
        # It keeps a copy of the config (the run's folder goes when the run ends; the token stays known).
        kept = Path(args.out + ".mcp.json")
        kept.write_text(Path(args.mcp_config).read_text())
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--linger-child",
                "--mcp-config",
                str(kept),
                "-p",
                args.prompt,
                "--out",
                args.out,
            ],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return 0
    async with connect(server_entry(args.mcp_config)) as client:
        if args.mode == "quit":
            await call(client, "get_incident_details", incident_id=incident)
            return 0
        if args.mode == "trespass":
            other = Path(args.other[1:]).read_text().strip() if args.other.startswith("@") else args.other
            args.other = other
            await call(client, "get_incident_details", incident_id=incident)
            await call(client, "get_incident_details", incident_id=args.other)
            await call(client, "claim_incident", incident_id=args.other)
            await call(client, "get_pending_incidents")
            await call(client, "release_incident", incident_id=incident)
            approve(args.mcp_config, args.other)
            return 0
        edits = [(path, old, new) for path, old, new in args.edit or []]
        return await fix(client, incident, edits, follow_up="get_fix_feedback" in args.prompt)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-p", "--prompt", required=True)
    parser.add_argument("--mcp-config", required=True)
    parser.add_argument("--mode", choices=MODES, default="fix")
    parser.add_argument("--edit", nargs=3, action="append", metavar=("PATH", "OLD", "NEW"))
    parser.add_argument("--other", default="", help="trespass: an incident it has no business with (@FILE: read)")
    parser.add_argument("--out", default="", help="hang and linger: where to write what they saw")
    parser.add_argument("--probe", action="append", help="env: say whether this path is visible")
    parser.add_argument("--linger-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    if arguments.linger_child:
        found = re.search(r"INC-\d{8}-\d{4,}", arguments.prompt)
        asyncio.run(linger(arguments.mcp_config, found.group(0) if found else "", Path(arguments.out)))
        raise SystemExit(0)
    raise SystemExit(asyncio.run(main(arguments)))
