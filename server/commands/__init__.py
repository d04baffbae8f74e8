"""One module per `healer` subcommand: ``add_arguments(parser)`` and ``run(args)`` -> exit code.

In:      parsed command-line arguments, the environment's settings, healer.toml.
Out:     exit codes and text for a person; each command calls one use case of the core.
Imports: anything; nothing imports this package but ``server.cli``.
"""
