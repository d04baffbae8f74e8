"""Similar past incidents with what became of them: the index's matches, each with its outcome,
root cause, pull request and changed files.

In: an incident (its row). Out: up to three ``SimilarIncident`` models, best match first, a
verified fix before others at equal relevance. Reads ``server.similar.index`` and the store's rows; the
faces (MCP's ``get_incident_details``, ``GET /incidents/{id}/similar``, ``healer similar``, the
dashboard) only render what comes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import BindParameter, Connection, bindparam, delete, select

from server.errors import IncidentNotFound
from server.models import StackFrame, Status, format_incident_id_on, parse_incident_id
from server.similar import index as search
from server.store import queries
from server.store.driver import BulkInsert, RawSelect, json_time
from server.store.schema import incidents, timeline
from server.store.similar_schema import incident_similar

Outcome = Literal["verified", "regressed", "fix_rejected", "escalated", "open"]

_ESCALATED = {Status.escalated, Status.dead_letter}
# Built once: on a read that must cost little beside get_incident_details, building them was a
# noticeable share (bench/bench_similar.py).
_PKS: BindParameter[list[int]] = bindparam("pks", expanding=True)
_ROWS = select(*search.SHOWN).where(incidents.c.pk.in_(_PKS))
_FIX_EVENTS = (
    select(timeline.c.incident_pk, timeline.c.event, timeline.c.detail)
    .where(timeline.c.incident_pk.in_(_PKS), timeline.c.event.in_(("pr_opened", "pr_updated", "regressed")))
    .order_by(timeline.c.id)
)
# The remembered candidates with their current rows, and the incident's own row (score NULL). Read
# as plain tuples (server.store.driver): SQLAlchemy's processing of 21 rows cost about as much as
# the query.
_REMEMBERED = RawSelect(
    select(*search.SHOWN, incident_similar.c.score)
    .join_from(incident_similar, incidents, incidents.c.pk == incident_similar.c.candidate_pk)
    .where(incident_similar.c.incident_pk == bindparam("pk"))
)


class _Match(NamedTuple):
    """A candidate's row (the columns of ``search.SHOWN``, in order) and its score."""

    pk: int
    created_at: Any  # as the driver or SQLAlchemy returns it: text, or a datetime
    title: str
    service: str
    status: str
    pr_url: str | None
    pr_number: int | None
    score: float


class SimilarIncident(BaseModel):
    """An earlier incident that looks like this one, and what became of it."""

    id: str
    title: str
    service: str
    status: Status
    outcome: Outcome = Field(description="verified, regressed, fix_rejected, escalated or open.")
    root_cause: str | None = Field(default=None, description="The fixing agent's explanation, as it wrote it.")
    pr_title: str | None = None
    pr_url: str | None = None
    pr_number: int | None = None
    changed_files: list[str] = Field(default_factory=list)
    score: float = Field(description="Relevance, 0 to 1, relative to the best match of this search.")


def document_for(row: Any, *, root_cause: str | None = None, pr_title: str | None = None) -> search.SearchDocument:
    """The index entry of an incident row (the store's columns)."""
    frames = [StackFrame.model_validate(frame) for frame in row.stack_frames or []]
    return search.document(
        title=row.title,
        service=row.service,
        category=row.category,
        error=row.error,
        functions=[frame.function for frame in frames],
        files=[frame.repo_path or frame.filename for frame in frames] + list(row.affected_files or []),
        root_cause=root_cause,
        pr_title=pr_title,
    )


def _outcome(status: Status, events: set[str]) -> Outcome:
    if status == Status.verified:
        return "verified"
    if status == Status.regressed or "regressed" in events:
        return "regressed"
    if status == Status.fix_rejected:
        return "fix_rejected"
    if status in _ESCALATED:
        return "escalated"
    return "open"


def candidates(connection: Connection, row: Any) -> list[tuple[int, float]]:
    """The earlier incidents whose text matches ``row``'s, as (pk, score) best first: its repeats
    when the fault came back often enough (all equally relevant), else the index's ranked matches."""
    doc = document_for(row)
    found = search.repeats(connection, doc, before_pk=row.pk)
    if len(found) >= search.REPEATS_ENOUGH:
        return [(repeat.pk, 1.0) for repeat in found]
    return search.nearest(connection, doc, before_pk=row.pk)


_INSERT_SIMILAR = BulkInsert(incident_similar, ["incident_pk", "candidate_pk", "score"])


def candidates_for(connection: Connection, rows: Sequence[Any]) -> dict[int, list[tuple[int, float]]]:
    """``candidates`` for each of ``rows`` (pk -> matches), as one call each would find them.

    Incidents whose text is the same (a fault reported again and again, as in a storm) share one
    search for their repeats, below the latest of them: for an earlier one, that answer is its own
    whenever every repeat found lies below it too, since a repeat between the two would have been
    found first (newest first). Otherwise, and for the ranked search, each is searched alone.
    """
    groups: dict[search.SearchDocument, list[Any]] = {}
    for row in rows:
        groups.setdefault(document_for(row), []).append(row)
    found: dict[int, list[tuple[int, float]]] = {}
    for doc, members in groups.items():
        shared = search.repeats(connection, doc, before_pk=max(row.pk for row in members)) if len(members) > 1 else None
        for row in members:
            repeats = None
            if shared is not None and all(repeat.pk < row.pk for repeat in shared):
                repeats = shared
            if repeats is None:
                repeats = search.repeats(connection, doc, before_pk=row.pk)
            if len(repeats) >= search.REPEATS_ENOUGH:
                found[row.pk] = [(repeat.pk, 1.0) for repeat in repeats]
            else:
                found[row.pk] = search.nearest(connection, doc, before_pk=row.pk)
    return found


def index(connection: Connection, row: Any) -> None:
    """Index an incident and remember its candidates, in the caller's transaction (at triage).

    Its own text does not change afterwards, and only earlier incidents can match it, so its matches
    are found here once; reads fetch what became of them by primary key (``for_incident``)."""
    search.index_incident(connection, row.pk, document_for(row))
    remember(connection, {row.pk: candidates(connection, row)})


def remember(connection: Connection, found: dict[int, list[tuple[int, float]]]) -> None:
    """Keep each incident's candidates (pk -> [(candidate pk, score)]), with its own row marking it searched."""
    keep(connection, {pk: similar_rows(pk, matches) for pk, matches in found.items()})


def similar_rows(pk: int, matches: list[tuple[int, float]]) -> list[dict[str, Any]]:
    """The ``incident_similar`` rows that keep an incident's candidates, its own row (marking it searched) first."""
    return [{"incident_pk": pk, "candidate_pk": pk, "score": None}] + [
        {"incident_pk": pk, "candidate_pk": candidate, "score": score} for candidate, score in matches
    ]


def keep(connection: Connection, rows: dict[int, list[dict[str, Any]]]) -> None:
    """Replace what is kept for each incident (pk -> its ``similar_rows``)."""
    if not rows:
        return
    table = incident_similar
    connection.execute(delete(table).where(table.c.incident_pk.in_(list(rows))))
    # A storm's batch keeps a couple of thousand rows, in one driver call (under triage's write lock).
    _INSERT_SIMILAR.execute(connection, [row for kept in rows.values() for row in kept])


def find(connection: Connection, row: Any, *, limit: int = 3) -> list[SimilarIncident]:
    """Up to ``limit`` earlier incidents like ``row``, best first, searched now."""
    found = candidates(connection, row)
    if not found:
        return []
    rows = {r.pk: r for r in connection.execute(_ROWS, {"pks": [pk for pk, _ in found]}).all()}
    return described(connection, [_Match(*rows[pk], score) for pk, score in found if pk in rows], limit=limit)


def described(connection: Connection, found: list[_Match], *, limit: int = 3) -> list[SimilarIncident]:
    """The chosen ``limit`` of candidates with what became of each: outcome, fix and pull request."""
    if not found:
        return []
    rows = {match.pk: match for match in found}
    # Ranking needs each candidate's status (verified or not); fixes are read for the chosen few.
    scored = [(match.pk, match.score, match.status) for match in found]
    chosen = search.rank(scored, limit=limit)
    pks = [pk for pk, _, _ in chosen]
    fixes: dict[int, dict[str, Any]] = {}
    events: dict[int, set[str]] = {pk: set() for pk in pks}
    # A fix's events come with its pull request's url (server/fixing/submit.py), so without one there are none.
    with_pr = [pk for pk in pks if rows[pk].pr_url]
    for incident_pk, event, detail in connection.execute(_FIX_EVENTS, {"pks": with_pr}) if with_pr else ():
        events[incident_pk].add(event)
        if event == "pr_opened" and incident_pk not in fixes:
            fixes[incident_pk] = detail  # the first fix: its root cause and title describe the change
        elif event == "pr_updated" and incident_pk in fixes:
            fixes[incident_pk] = {**fixes[incident_pk], "files": _merged(fixes[incident_pk], detail)}
    best = max(score for _, score, _ in scored)
    out: list[SimilarIncident] = []
    for pk, score, _ in chosen:
        match, fix = rows[pk], fixes.get(pk, {})
        status = Status(match.status)
        out.append(
            SimilarIncident(
                id=format_incident_id_on(pk, json_time(match.created_at) or ""),
                title=match.title,
                service=match.service,
                status=status,
                outcome=_outcome(status, events[pk]),
                root_cause=fix.get("explanation"),
                pr_title=fix.get("summary"),
                pr_url=match.pr_url,
                pr_number=match.pr_number,
                changed_files=list(fix.get("files") or []),
                score=round(score / best, 3) if best else 0.0,
            )
        )
    return out


def _merged(first: dict[str, Any], later: dict[str, Any]) -> list[str]:
    files = list(first.get("files") or [])
    return files + [name for name in later.get("files") or [] if name not in files]


def reindex(connection: Connection, pk: int) -> None:
    """Write an incident's entry from its row and its first fix, in the caller's transaction."""
    # Only the columns the document reads: migration 0013 runs this on databases that later
    # migrations have not yet given their own columns.
    c = incidents.c
    row = connection.execute(
        select(c.title, c.service, c.category, c.error, c.stack_frames, c.affected_files).where(c.pk == pk)
    ).first()
    if row is None:
        return
    fix = connection.execute(
        select(timeline.c.detail)
        .where(timeline.c.incident_pk == pk, timeline.c.event == "pr_opened")
        .order_by(timeline.c.id)
        .limit(1)
    ).scalar()
    fix = fix or {}
    search.index_incident(
        connection, pk, document_for(row, root_cause=fix.get("explanation"), pr_title=fix.get("summary"))
    )


def for_incident(connection: Connection, incident_id: str, *, limit: int = 3) -> list[SimilarIncident]:
    """Similar earlier incidents of the incident with this public id (``IncidentNotFound`` if none).

    The candidates found when it was indexed, with their current outcomes; an incident indexed
    before candidates were remembered (or not triaged yet) is searched now."""
    parsed = parse_incident_id(incident_id)
    if parsed is None:
        raise IncidentNotFound(incident_id)
    day, pk = parsed
    rows = [_Match(*row) for row in _REMEMBERED.rows(connection, {"pk": pk})]
    own = next((row for row in rows if row.pk == pk), None)
    if own is None:
        return find(connection, queries.incident_row(connection, incident_id), limit=limit)
    created = json_time(own.created_at) or ""
    if created[0:4] + created[5:7] + created[8:10] != day:
        raise IncidentNotFound(incident_id)
    return described(connection, [row for row in rows if row.pk != pk], limit=limit)
