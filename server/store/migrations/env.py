"""Alembic environment: migrations run on the connection the caller hands over."""

from __future__ import annotations

from alembic import context

from server.similar.index import declared_elsewhere
from server.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `healer db upgrade` or server.store.migrate.upgrade()")

context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, include_name=declared_elsewhere
)
with context.begin_transaction():
    context.run_migrations()
