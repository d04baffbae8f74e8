"""Statements for the two hot paths (intake inserts, the agents' queue), handed straight to the driver.

SQLAlchemy runs Python type processing for every value of every row; at the rates the intake
and the queue must sustain, that costs more than the database work itself. These statements are
still written and compiled by SQLAlchemy, once per dialect, but values are converted in plain
code (timestamps to naive UTC and back, JSON to text) and rows pass to and from the driver in
one call. Everything else in the store goes through SQLAlchemy as usual.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, Dialect, Select, Table

from server.store.schema import UTCDateTime


def _to_naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_time(value: datetime | None) -> str | None:
    # The text form SQLAlchemy's SQLite DateTime writes and parses, so both paths read alike.
    if value is not None and value.tzinfo is UTC:  # the store's own clock: the offset is cut off
        return value.isoformat(sep=" ", timespec="microseconds")[:26]
    naive = _to_naive_utc(value)
    return None if naive is None else naive.isoformat(sep=" ", timespec="microseconds")


def _json(value: Any) -> str:
    if not value:  # most labels and frame lists are empty
        return "[]" if isinstance(value, list) else "{}" if isinstance(value, dict) else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def from_db_time(value: Any) -> datetime | None:
    """A timestamp column as read by the driver (text on SQLite, naive UTC elsewhere), made aware."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            # The text is naive UTC; parsing it with its offset spelled out is one C call, where
            # parsing and then replace(tzinfo=...) costs ten times as much (the queue reads two a row).
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text that carries its own offset
            value = datetime.fromisoformat(value)
    moment: datetime = value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def json_time(value: Any) -> str | None:
    """A timestamp column as JSON text, exactly as pydantic writes the aware UTC datetime
    (``2026-11-22T09:00:00.500000Z``; no fraction when it is zero)."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) == 26 and value[10] == " " and value[19] == ".":
        # SQLite's naive UTC text: rewritten in place, not parsed.
        fraction = "" if value.endswith(".000000") else value[19:]
        return f"{value[:10]}T{value[11:19]}{fraction}Z"
    moment = from_db_time(value)
    assert moment is not None
    return moment.isoformat().removesuffix("+00:00") + "Z"


class RawSelect:
    """A SELECT compiled once per dialect; rows come back as plain tuples, unprocessed."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, Callable[[dict[str, Any]], Any] | None, dict[str, Any]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, Callable[[dict[str, Any]], Any] | None, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            order = list(compiled.positiontup) if compiled.positiontup is not None else None
            # Positional drivers take the values as a tuple in the statement's order.
            take = (lambda values: tuple(values[name] for name in order)) if order is not None else None
            if order is not None and len(order) > 1:
                take = operator.itemgetter(*order)
            # Parameters the statement binds itself (SQLite's OFFSET 0 after a LIMIT, say).
            defaults = {k: v for k, v in compiled.params.items() if v is not None}
            found = (compiled.string, take, defaults)
            self._compiled[dialect.name] = found
        return found

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        sql, take, defaults = self._compile(connection.dialect)
        sqlite = connection.dialect.name == "sqlite"
        values = defaults | {
            k: (_sqlite_time(v) if sqlite else _to_naive_utc(v)) if isinstance(v, datetime) else v
            for k, v in params.items()
        }
        # The DBAPI cursor itself: even exec_driver_sql costs more than this query on SQLite.
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, take(values) if take is not None else values)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()


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
