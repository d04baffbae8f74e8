"""Multi-row inserts for the ingest hot path, handed straight to the database driver.

SQLAlchemy's executemany runs Python type processing for every value of every row; at the
rates the intake must sustain that costs more than the database itself. These inserts do the
same conversions once per value in plain code (timestamps to naive UTC, JSON to text) and pass
the rows to the driver in one call. Everything else in the store goes through SQLAlchemy.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table

from server.store.schema import UTCDateTime


def _to_naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(value: datetime | None) -> str | None:
    # The text form SQLAlchemy's SQLite DateTime writes and parses, so both paths read alike.
    naive = _to_naive_utc(value)
    return None if naive is None else naive.isoformat(sep=" ", timespec="microseconds")


def _json(value: Any) -> str:
    if not value:  # most labels and frame lists are empty
        return "[]" if isinstance(value, list) else "{}" if isinstance(value, dict) else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class BulkInsert:
    """``INSERT INTO table (columns) VALUES (...)`` for many rows in one driver call."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = list(columns)
        self._kinds = []
        for name in self.columns:
            column_type = table.c[name].type
            if isinstance(column_type, UTCDateTime):
                self._kinds.append("time")
            elif isinstance(column_type, JSON):
                self._kinds.append("json")
            else:
                self._kinds.append("plain")
        self._sql: dict[str, str] = {}

    def _statement(self, paramstyle: str) -> str:
        found = self._sql.get(paramstyle)
        if found is None:
            names = ", ".join(self.columns)
            if paramstyle == "qmark":
                marks = ", ".join("?" for _ in self.columns)
            elif paramstyle == "pyformat":
                marks = ", ".join(f"%({name})s" for name in self.columns)
            else:
                raise ValueError(f"unsupported driver paramstyle {paramstyle}")
            found = f"INSERT INTO {self.table.name} ({names}) VALUES ({marks})"  # noqa: S608 - names are ours
            self._sql[paramstyle] = found
        return found

    def execute(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = connection.dialect
        sqlite = dialect.name == "sqlite"
        to_time = _sqlite_time if sqlite else _to_naive_utc
        times: dict[datetime, Any] = {}

        def time_value(value: datetime | None) -> Any:
            # A batch shares a handful of timestamps; convert each once.
            if value is None:
                return None
            converted = times.get(value)
            if converted is None:
                converted = times[value] = to_time(value)
            return converted

        converters = [time_value if kind == "time" else _json if kind == "json" else None for kind in self._kinds]
        converted = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
        take = operator.itemgetter(*self.columns)
        tuples = []
        for row in rows:
            values = list(take(row))
            for index, convert in converted:
                values[index] = convert(values[index])
            tuples.append(values)
        if dialect.paramstyle == "qmark":
            connection.exec_driver_sql(self._statement("qmark"), [tuple(v) for v in tuples])
        else:
            names = self.columns
            connection.exec_driver_sql(
                self._statement(dialect.paramstyle), [dict(zip(names, v, strict=True)) for v in tuples]
            )
