"""The agent runner: devops-healer starts a configured headless agent CLI for an incident, bounds it, records it.

config      [agents.<name>] and [dispatch] from healer.toml
outcomes    a run's states and outcomes, as one table of allowed moves
tokens      run tokens: minted per run, stored as hashes, scoped to one incident
runs        the store's runs table: create, start, finish, list
prompt      the prompt and the MCP config file handed to the agent
launch      the agent's argv and environment, through the sandbox
supervise   one process: output capped and redacted, timeout, cost cap, cancel
runner      one run from claim to outcome
dispatch    which runs start when: auto dispatch, follow-ups, budgets
gate        the /mcp guard that scopes a run token to its incident
relay       `healer mcp --connect`: stdio to the HTTP /mcp, for stdio-only agents
"""
