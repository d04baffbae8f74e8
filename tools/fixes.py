"""The MCP tool that turns an agent's change into a verified branch and pull request."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import anyio.from_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from fixer.models import Change
from server.fixing.models import FixOutcome, FixSubmission
from tools.errors import agent_errors
from tools.incidents import AgentArg, IncidentIdArg, agent_name
from tools.results import result
from tools.runtime import Runtime

SUBMITS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=True)


def register(mcp: MCPServer, runtime: Runtime) -> None:
    @mcp.tool(annotations=SUBMITS)
    async def submit_fix(
        incident_id: IncidentIdArg,
        change: Annotated[
            Change,
            Field(
                description=(
                    'Either {"diff": "<unified diff as git diff writes it>"} or {"edits": [{"path", "old", '
                    '"new"} | {"path", "create"} | {"path", "delete": true}]}. Paths are relative to the '
                    "repository root; `old` must match exactly once."
                )
            ),
        ],
        title: Annotated[str, Field(min_length=3, max_length=200, description="One line: what the fix does.")],
        explanation: Annotated[
            str, Field(min_length=10, max_length=20_000, description="The root cause and why this change fixes it.")
        ],
        risk: Annotated[str | None, Field(description="What could go wrong; what reviewers should check.")] = None,
        addresses: Annotated[
            list[str] | None, Field(description="Review findings this follow-up addresses, one line each.")
        ] = None,
        agent: AgentArg = None,
        ctx: Context[Any, Any] | None = None,
    ) -> Annotated[CallToolResult, FixOutcome]:
        """Apply your change to a claimed incident's repository, run its tests, push a branch and open (or
        update) the pull request.

        Checked before anything is written: paths stay in the repository, no CI/secret/review-config files,
        no binaries, size limits, no secrets in added lines, and the patch must apply. A refusal says which
        rule or which hunk failed and how to retry; you keep the claim. Sends progress while it works.
        """
        name = agent_name(ctx, agent)
        with agent_errors():
            submission = FixSubmission.of(change, title, explanation, risk=risk, addresses=addresses or [])

        def progress(step: str, fraction: float) -> None:
            if ctx is not None:
                anyio.from_thread.run(ctx.report_progress, round(fraction * 100), 100, step)

        def run() -> FixOutcome:
            from server.fixing.recovery import recover_once

            recover_once(runtime.store, runtime.settings.home / "workspaces")  # once per process
            return runtime.fixes.submit(incident_id, submission, agent=name, progress=progress)

        with agent_errors():
            outcome: FixOutcome = await anyio.to_thread.run_sync(run)
        return result(outcome)
