"""The baseline for start-up: the SDK's own server with one tool, nothing else imported."""

from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def ping() -> str:
    """Answer pong."""
    return "pong"


if __name__ == "__main__":
    server.run("stdio")
