"""Schema migrations: the pinned head is Alembic's head, and migrating builds exactly the declared tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from server.models import Severity, Status
from server.similar.index import declared_elsewhere
from server.store import Store
from server.store.engine import create_store_engine
from server.store.migrate import _MIGRATIONS, HEAD_REVISION, current_revision, ensure_schema, upgrade
from server.store.schema import metadata

FIRST_REVISION = "0001"


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
            context = MigrationContext.configure(connection, opts={"include_name": declared_elsewhere})
            diff = compare_metadata(context, metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_keeps_existing_incidents(tmp_path: Path) -> None:
    from server.config import HealerConfig
    from server.intake.reports import normalize
    from server.models import IncidentIn
    from server.store import Store

    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = Store.open(url)
    created = store.ingest(normalize(IncidentIn(service="s", error="e"), HealerConfig()))
    store.close()
    reopened = Store.open(url)
    assert reopened.get(created.id).service == "s"
    reopened.close()


# Rows as a 0001 database held them, written with that revision's columns and nothing newer.
_INCIDENT_0001 = text(
    """
    INSERT INTO incidents (pk, fingerprint, open_fingerprint, source, service, title, error, log_excerpt,
        stack_frames, severity, category, confidence, summary, suggested_fix, affected_files, labels, repo,
        status, queue_rank, attempts, occurrences, first_seen, last_seen, claim_holder, claim_expires_at,
        not_before, branch, pr_url, pr_number, review_state, trace_id, created_at, updated_at)
    VALUES (:pk, :fingerprint, :open_fingerprint, :source, :service, :title, :error, :log_excerpt,
        :stack_frames, :severity, NULL, NULL, NULL, :suggested_fix, :affected_files, :labels, :repo,
        :status, :queue_rank, 0, :occurrences, :at, :at, :claim_holder, :claim_expires_at,
        NULL, NULL, NULL, NULL, NULL, :trace_id, :at, :at)
    """
)
_TIMELINE_0001 = text(
    "INSERT INTO timeline (incident_pk, at, actor, event, detail, trace_id) "
    "VALUES (:incident_pk, :at, 'api', :event, :detail, :trace_id)"
)


@pytest.mark.parametrize(
    ("status", "claim_holder"),
    [
        ("pending", None),  # waiting in the queue
        ("claimed", "agent-7"),  # held by an agent when the server was upgraded
    ],
)
def test_upgrade_from_the_first_revision_keeps_incidents_readable(
    db_url: str, status: str, claim_holder: str | None
) -> None:
    at = datetime(2026, 11, 22, 9, 30)  # naive UTC, as UTCDateTime stores it
    frames = [{"filename": "/srv/app/db.py", "lineno": 41, "function": "connect"}]
    engine = create_store_engine(db_url)
    try:
        upgrade(engine, FIRST_REVISION)
        with engine.begin() as connection:
            assert current_revision(connection) == FIRST_REVISION
            for pk, service in [(1, "payments-api"), (2, "orders")]:
                connection.execute(
                    _INCIDENT_0001,
                    {
                        "pk": pk,
                        "fingerprint": f"{pk:064x}",
                        "open_fingerprint": f"{pk:064x}",
                        "source": "api",
                        "service": service,
                        "title": f"pool exhausted in {service}",
                        "error": "RuntimeError: pool exhausted",
                        "log_excerpt": "ERROR pool exhausted",
                        "stack_frames": json.dumps(frames),
                        "severity": "high",
                        "suggested_fix": "raise the pool size",
                        "affected_files": json.dumps(["app/db.py"]),
                        "labels": json.dumps({"env": "prod"}),
                        "repo": "payments",
                        "status": status,
                        "queue_rank": 1 if status == "pending" else None,
                        "occurrences": 3,
                        "at": at,
                        "claim_holder": claim_holder,
                        "claim_expires_at": datetime(2026, 11, 22, 10, 0) if claim_holder else None,
                        "trace_id": f"{pk:032x}",
                    },
                )
                for event in ["received", "pending"]:
                    connection.execute(
                        _TIMELINE_0001,
                        {"incident_pk": pk, "at": at, "event": event, "detail": "{}", "trace_id": f"{pk:032x}"},
                    )
    finally:
        engine.dispose()

    store = Store.open(db_url)  # migrates to head, as a start-up after the upgrade would
    try:
        with store.read() as connection:
            assert current_revision(connection) == HEAD_REVISION
        first = store.get("INC-20261122-0001")
        assert (first.service, first.title, first.error, first.severity, first.status) == (
            "payments-api",
            "pool exhausted in payments-api",
            "RuntimeError: pool exhausted",
            Severity.high,
            Status(status),
        )
        assert (first.repo, first.labels, first.affected_files, first.occurrences) == (
            "payments",
            {"env": "prod"},
            ["app/db.py"],
            3,
        )
        assert [(f.filename, f.lineno, f.function) for f in first.stack_frames] == [("/srv/app/db.py", 41, "connect")]
        assert first.first_seen == at.replace(tzinfo=UTC)
        assert (first.claim.holder if first.claim else None) == claim_holder
        assert [e.event for e in store.timeline("INC-20261122-0001")] == ["received", "pending"]
        listed = store.list_incidents()
        assert sorted(item.id for item in listed.items) == ["INC-20261122-0001", "INC-20261122-0002"]
    finally:
        store.close()
