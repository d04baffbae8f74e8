"""The incident list: filters, sort and keyset pages, each page a handful of index range scans.

A filter on several values of one indexed column (statuses, severities) is read as one ordered
scan per value, merged here; ``ORDER BY pk`` over ``status IN (...)`` would otherwise make the
database sort every matching row to return fifty. Free-text search is a filter on top of the same
scans: it stops as soon as a page is full.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, or_, select, tuple_

from server.models import SEVERITY_RANK, Severity, Status
from server.observe.stages import Stage, statuses_in
from server.store.rows import AnyRow, decode_cursor, encode_cursor, public_id
from server.store.schema import incidents, timeline

PAGE_SIZES = (25, 50, 100)
SEARCH_MAX = 200


class Sort(StrEnum):
    newest = "newest"
    oldest = "oldest"
    last_seen = "last_seen"
    severity = "severity"


SORT_LABELS: dict[Sort, str] = {
    Sort.newest: "Newest first",
    Sort.oldest: "Oldest first",
    Sort.last_seen: "Recently seen",
    Sort.severity: "Most severe first",
}

_COLUMNS = [
    incidents.c.pk,
    incidents.c.created_at,
    incidents.c.title,
    incidents.c.service,
    incidents.c.severity,
    incidents.c.status,
    incidents.c.occurrences,
    incidents.c.first_seen,
    incidents.c.last_seen,
    incidents.c.claim_holder,
    incidents.c.pr_url,
    incidents.c.pr_number,
]


@dataclass
class ListQuery:
    """What the URL asks for; unknown values are dropped rather than refused (it is a page, not an API)."""

    statuses: list[Status] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    severities: list[Severity] = field(default_factory=list)
    service: str | None = None
    q: str | None = None
    sort: Sort = Sort.newest
    cursor: str | None = None
    limit: int = 50

    @classmethod
    def parse(cls, params: Any) -> ListQuery:
        """From a multi-dict of query parameters (Starlette's QueryParams)."""

        def many(name: str, kind: Any) -> list[Any]:
            values = []
            for raw in params.getlist(name):
                try:
                    value = kind(raw)
                except ValueError:
                    continue
                if value not in values:
                    values.append(value)
            return values

        try:
            sort = Sort(params.get("sort") or Sort.newest)
        except ValueError:
            sort = Sort.newest
        try:
            limit = int(params.get("limit") or 50)
        except ValueError:
            limit = 50
        service = (params.get("service") or "").strip()[:200] or None
        q = (params.get("q") or "").strip()[:SEARCH_MAX] or None
        return cls(
            statuses=many("status", Status),
            stages=many("stage", Stage),
            severities=many("severity", Severity),
            service=service,
            q=q,
            sort=sort,
            cursor=(params.get("after") or None),
            limit=limit if limit in PAGE_SIZES else 50,
        )

    def wanted_statuses(self) -> list[Status]:
        """Statuses named directly or through stages (both given: those in both)."""
        by_stage = statuses_in(self.stages) if self.stages else None
        if self.statuses and by_stage is not None:
            return [s for s in self.statuses if s in by_stage]
        return self.statuses or by_stage or []

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        """This query as URL parameters, with some changed (a filter link, the next page)."""
        values: dict[str, Any] = {
            "status": [s.value for s in self.statuses],
            "stage": [s.value for s in self.stages],
            "severity": [s.value for s in self.severities],
            "service": self.service,
            "q": self.q,
            "sort": self.sort.value if self.sort != Sort.newest else None,
            "limit": str(self.limit) if self.limit != 50 else None,
            "after": None,
        }
        values.update(changes)
        pairs: list[tuple[str, str]] = []
        for name, value in values.items():
            if isinstance(value, list):
                pairs += [(name, item) for item in value]
            elif value:
                pairs.append((name, str(value)))
        return pairs

    @property
    def filtered(self) -> bool:
        return bool(self.statuses or self.stages or self.severities or self.service or self.q)


@dataclass
class ListRow:
    id: str
    title: str
    service: str
    severity: Severity
    status: Status
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    agent: str | None
    pr_url: str | None
    pr_number: int | None


@dataclass
class ListPage:
    rows: list[ListRow]
    next_cursor: str | None


def _conditions(query: ListQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.service:
        where.append(incidents.c.service == query.service)
    if query.q:
        where.append(
            or_(
                incidents.c.title.icontains(query.q, autoescape=True),
                incidents.c.error.icontains(query.q, autoescape=True),
            )
        )
    return where


def _scan(
    connection: Connection,
    where: list[ColumnElement[bool]],
    order: list[Any],
    descending: bool,
    after: list[Any] | None,
    take: int,
) -> list[AnyRow]:
    statement = select(*_COLUMNS).where(*where)
    if after is not None:
        # Typed binds: timestamps must be compared in the form the column stores them.
        values = [literal(value, column.type) for column, value in zip(order, after, strict=True)]
        key = tuple_(*order) if len(order) > 1 else order[0]
        bound = tuple_(*values) if len(order) > 1 else values[0]
        statement = statement.where(key < bound if descending else key > bound)
    ordering = [column.desc() if descending else column.asc() for column in order]
    return list(connection.execute(statement.order_by(*ordering).limit(take)).all())


def _split(
    connection: Connection,
    column: Any,
    values: list[str],
    where: list[ColumnElement[bool]],
    order: list[Any],
    descending: bool,
    after: list[Any] | None,
    take: int,
) -> list[AnyRow]:
    """One ordered scan per value of ``column``, merged: each uses the (column, order...) index."""
    if len(values) == 1:
        return _scan(connection, [*where, column == values[0]], order, descending, after, take)
    runs = [_scan(connection, [*where, column == value], order, descending, after, take) for value in values]

    def key(row: AnyRow) -> tuple[Any, ...]:
        return tuple(getattr(row, col.name) for col in order)

    merged = heapq.merge(*runs, key=key, reverse=descending)
    return [row for _, row in zip(range(take), merged, strict=False)]


def list_page(connection: Connection, query: ListQuery) -> ListPage:
    statuses = query.wanted_statuses()
    if (query.statuses or query.stages) and not statuses:
        return ListPage(rows=[], next_cursor=None)  # a status outside the chosen stages: nothing matches
    where = _conditions(query)
    take = query.limit + 1
    if query.sort == Sort.severity:
        rows, cursor = _by_severity(connection, query, statuses, where, take)
    else:
        order: list[Any]
        descending = query.sort != Sort.oldest
        if query.sort == Sort.last_seen:
            order = [incidents.c.last_seen, incidents.c.pk]
            shape: tuple[type, ...] = (datetime, int)
        else:
            order = [incidents.c.pk]
            shape = (int,)
        after = decode_cursor(query.cursor, shape) if query.cursor else None
        if query.severities:
            where.append(incidents.c.severity.in_([s.value for s in query.severities]))
        if statuses:
            rows = _split(
                connection, incidents.c.status, [s.value for s in statuses], where, order, descending, after, take
            )
        else:
            rows = _scan(connection, where, order, descending, after, take)
        cursor = None
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            cursor = encode_cursor([getattr(last, column.name) for column in order])
    page_rows = rows[: query.limit]
    return ListPage(rows=_rows(connection, page_rows), next_cursor=cursor)


def _by_severity(
    connection: Connection, query: ListQuery, statuses: list[Status], where: list[ColumnElement[bool]], take: int
) -> tuple[list[AnyRow], str | None]:
    """Most severe first, newest first within a severity: one run of scans per severity, concatenated."""
    ranked = sorted(query.severities or list(Severity), key=lambda s: -SEVERITY_RANK[s])
    start_rank, after_pk = decode_cursor(query.cursor, (int, int)) if query.cursor else (5, None)
    order = [incidents.c.pk]
    rows: list[AnyRow] = []
    for severity in ranked:
        rank = SEVERITY_RANK[severity]
        if rank > start_rank:
            continue
        after = [after_pk] if rank == start_rank and after_pk is not None else None
        scoped = [*where, incidents.c.severity == severity.value]
        need = take - len(rows)
        if statuses:
            found = _split(
                connection, incidents.c.status, [s.value for s in statuses], scoped, order, True, after, need
            )
        else:
            found = _scan(connection, scoped, order, True, after, need)
        rows += found
        if len(rows) >= take:
            break
    cursor = None
    if len(rows) > query.limit:
        last = rows[query.limit - 1]
        cursor = encode_cursor([SEVERITY_RANK[Severity(last.severity)], last.pk])
    return rows, cursor


def _rows(connection: Connection, rows: list[AnyRow]) -> list[ListRow]:
    """Page rows with the agent: the lease holder, else the last agent on the timeline."""
    without_holder = [row.pk for row in rows if not row.claim_holder]
    last_agent: dict[int, str] = {}
    if without_holder:
        newest = (
            select(func.max(timeline.c.id))
            .where(timeline.c.incident_pk.in_(without_holder), timeline.c.actor.like("agent:%"))
            .group_by(timeline.c.incident_pk)
        )
        for pk, actor in connection.execute(
            select(timeline.c.incident_pk, timeline.c.actor).where(timeline.c.id.in_(newest))
        ):
            last_agent[pk] = actor.removeprefix("agent:")
    return [
        ListRow(
            id=public_id(row),
            title=row.title,
            service=row.service,
            severity=Severity(row.severity),
            status=Status(row.status),
            occurrences=row.occurrences,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            agent=row.claim_holder or last_agent.get(row.pk),
            pr_url=row.pr_url,
            pr_number=row.pr_number,
        )
        for row in rows
    ]


def services(connection: Connection, limit: int = 200) -> list[str]:
    """Service names for the filter's suggestions: from the most recent incidents, not a scan of all."""
    recent = select(incidents.c.service).order_by(incidents.c.pk.desc()).limit(2000).subquery()
    names = connection.execute(select(recent.c.service).distinct().limit(limit)).scalars().all()
    return sorted(names)
