"""Database engines: SQLite (WAL, fsync on commit) by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

#: Execution option that makes a SQLite transaction take the write lock up front
#: (BEGIN IMMEDIATE), so two writers queue on busy_timeout instead of failing on upgrade.
WRITE = {"healer_write": True}
#: The same, but failing at once (sqlite3.OperationalError, "database is locked") when another
#: writer holds the lock, instead of waiting busy_timeout: for callers on an event loop, which
#: must not stop every request while another thread or process commits.
WRITE_NOWAIT = {"healer_write": True, "healer_nowait": True}


def normalize_url(url: str) -> str:
    """postgresql:// and postgres:// URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_path(engine: Engine) -> Path | None:
    if not is_sqlite(engine) or not engine.url.database or engine.url.database == ":memory:":
        return None
    return Path(engine.url.database)


def create_store_engine(url: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 30_000) -> Engine:
    """An engine configured for the store; creates the SQLite file's folder when needed."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=16)
        _configure_sqlite(engine, synchronous, busy_timeout_ms)
        return engine
    return create_engine(url, pool_size=8, max_overflow=16, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, synchronous: str, busy_timeout_ms: int) -> None:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError("synchronous must be FULL or NORMAL")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, so SAVEPOINT and BEGIN IMMEDIATE work
        # (the sqlite3 module's own implicit transactions get both wrong).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsync'd at every commit, so an answered write survives power loss.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if not options.get("healer_write", False):
            connection.exec_driver_sql("BEGIN")
        elif options.get("healer_nowait", False):
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                connection.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
