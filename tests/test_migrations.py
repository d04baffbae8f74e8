"""Schema migrations: the pinned head is Alembic's head, and migrating builds exactly the declared tables."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.store.engine import create_store_engine
from server.store.migrate import _MIGRATIONS, HEAD_REVISION, ensure_schema
from server.store.schema import metadata


def test_pinned_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_migrations_build_what_the_code_declares(db_url: str) -> None:
    engine = create_store_engine(db_url)
    try:
        ensure_schema(engine)
        ensure_schema(engine)  # a second start is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_keeps_existing_incidents(tmp_path: Path) -> None:
    from server.config import HealerConfig
    from server.intake import normalize
    from server.models import IncidentIn
    from server.store import Store

    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = Store.open(url)
    created = store.ingest(normalize(IncidentIn(service="s", error="e"), HealerConfig()))
    store.close()
    reopened = Store.open(url)
    assert reopened.get(created.id).service == "s"
    reopened.close()
