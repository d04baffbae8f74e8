"""One module per `healer` subcommand: add_arguments(parser) and run(args) -> exit code."""
