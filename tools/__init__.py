"""The MCP face of devops-healer: one MCP server, its tools, resources and prompts."""
