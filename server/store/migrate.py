"""Schema migrations (Alembic), run at start-up under a lock so concurrent starts are safe."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from server.errors import StoreUnavailable
from server.store.engine import is_sqlite, sqlite_path

log = logging.getLogger(__name__)

#: The newest migration in server/store/migrations/versions. A test pins it to Alembic's head,
#: so start-up can skip importing Alembic (slow) when the database is already current.
HEAD_REVISION = "0016"

_MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x4EA1E5  # any constant shared by every devops-healer process


def current_revision(connection: Connection) -> str | None:
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        connection.rollback()
        return None


def ensure_schema(engine: Engine) -> None:
    """Bring the database to HEAD_REVISION; a no-op costing one query when it is current."""
    try:
        with engine.connect() as connection:
            if current_revision(connection) == HEAD_REVISION:
                return
    except DBAPIError as exc:
        raise StoreUnavailable(str(exc.orig)) from exc
    with _migration_lock(engine):
        upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        log.info("migrating the incident store to %s", revision)
        command.upgrade(config, revision)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if is_sqlite(engine):
        path = sqlite_path(engine)
        if path is None:
            yield
            return
        lock_path = path.with_name(path.name + ".migrate.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()
