"""The MCP tool that shows an agent the code around a failure."""

from typing import Annotated

from mcp.server import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from server.fixing.repo_context import RepositoryContext, build_context
from tools.errors import agent_errors
from tools.incidents import READS_REMOTE
from tools.results import result
from tools.runtime import Runtime


def register(mcp: MCPServer, runtime: Runtime) -> None:
    @mcp.tool(annotations=READS_REMOTE)  # reads a clone it may first fetch from the forge
    def get_repository_context(
        repo: Annotated[str, Field(description="A repository name from the incident's `repo` field.", max_length=100)],
        file_path: Annotated[
            str | None,
            Field(description="A path relative to the repository root, e.g. app/db.py.", max_length=1000),
        ] = None,
        line: Annotated[int | None, Field(ge=1, description="Centre the window on this line.")] = None,
        incident_id: Annotated[
            str | None,
            Field(
                description="Map this incident's stack frames to files and focus on the innermost one.",
                max_length=40,
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RepositoryContext]:
        """Read code at the repository's default branch (for an incident whose pull request is in review, at
        its PR branch, so a follow-up change applies on top; `branch` says which): a numbered window of the
        file around the line,
        the recent commits that touched it, blame for the window, related test files, the default
        branch and the repository's test command.

        Give incident_id without file_path to open the file of the innermost stack frame.
        """
        with agent_errors():
            config = runtime.config.repo(repo)
            incident = runtime.store.get(incident_id) if incident_id else None
            auth = runtime.source_auth(config)
            return result(
                build_context(config, runtime.cache_root, file_path=file_path, line=line, incident=incident, auth=auth)
            )
