"""`healer db upgrade | revision`: migrate the store, or show where it stands."""

from __future__ import annotations

import argparse
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["upgrade", "revision"],
        help="upgrade: bring the schema to the newest revision; revision: print the revision it is at.",
    )


def run(args: argparse.Namespace) -> int:
    from server.errors import HealerError
    from server.store.engine import create_store_engine
    from server.store.migrate import HEAD_REVISION, current_revision, ensure_schema

    settings, _config = load()
    engine = create_store_engine(settings.resolved_database_url)
    try:
        if args.action == "upgrade":
            ensure_schema(engine)
        with engine.connect() as connection:
            revision = current_revision(connection)
    except HealerError as exc:
        fail(exc.message)
    finally:
        engine.dispose()
    sys.stdout.write(f"revision {revision or 'none'} (this version needs {HEAD_REVISION})\n")
    return 0
