"""Similar past incidents: the store's own full-text index (SQLite FTS5, PostgreSQL tsvector).

What goes in: an incident's title, service, category and error, its stack frames' functions and
files, and, once a fix is opened, the agent's root cause and the pull request's title. Text is
normalised first (numbers, ids, hashes and addresses dropped; ``snake_case``, ``camelCase`` and
dotted names split into their words as well), so "pool exhausted after 30s (size=5)" and "pool
exhausted after 12s (size=10)" index alike. What comes out: the earlier incidents that share the
most weighted words with a given one, best first (FTS5's ``bm25()``, PostgreSQL's
``ts_rank_cd()``), as ``(pk, score)`` pairs with a higher score meaning closer.

Writes happen inside the caller's transaction (``index_incident``, ``index_fix``), so the index
moves with the incident's own rows. Nothing here knows about HTTP or MCP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from server.store.schema import incidents

#: Words that say nothing about which fault this is.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "error",
        "errors",
        "exception",
        "for",
        "from",
        "had",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "not",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "this",
        "to",
        "too",
        "was",
        "were",
        "will",
        "with",
        "line",
        "file",
        "py",
        "self",
        "none",
        "null",
        "true",
        "false",
        "traceback",
        "most",
        "recent",
        "call",
        "last",
        "raise",
        "raised",
    ]
)
# Volatile tokens: uuids, hex ids and hashes, numbers with units, ip addresses, timestamps.
_VOLATILE = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
    r"|\b0x[0-9a-f]+\b|\b[0-9a-f]*\d[0-9a-f]*\b(?=[^a-z]|$)"
    r"|\b\d[\w.:-]*"
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_WORD = re.compile(r"[a-z][a-z0-9]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*")
#: A query is built from at most this many of an incident's words (its title's first).
MAX_QUERY_TERMS = 48
#: How many candidates the index returns before the outcome re-ranking.
CANDIDATES = 20
#: A repeat shares this many of the title's longest words and of the error's.
REPEAT_TITLE_WORDS = 2
REPEAT_ERROR_WORDS = 3
#: With fewer words than this, sharing them all says too little to call an incident a repeat.
REPEAT_MIN_WORDS = 4
#: With at least this many repeats, they are the answer and the ranked query is not run.
REPEATS_ENOUGH = 3


def declared_elsewhere(name: str | None, type_: str, parent_names: object) -> bool:
    """False for the search index's tables: they are built by raw SQL in migration 0013 (an FTS5
    virtual table and its shadow tables cannot be declared as SQLAlchemy tables), so schema
    comparisons leave them out. Alembic's ``include_name`` hook."""
    return not (type_ == "table" and name is not None and name.startswith("incident_search"))


@dataclass(frozen=True)
class SearchDocument:
    """An incident's text as indexed: three fields, weighted title > error > the rest."""

    title: str
    error: str
    body: str


def words(value: str | None) -> list[str]:
    """The searchable words of a text, in order, without repeats: identifiers split, volatile
    tokens and stop words dropped."""
    if not value:
        return []
    found: list[str] = []
    seen: set[str] = set()

    def add(word: str) -> None:
        if len(word) > 1 and word not in _STOPWORDS and word not in seen and len(word) <= 60:
            seen.add(word)
            found.append(word)

    value = _URL.sub(" ", value)
    for identifier in _IDENTIFIER.findall(value):
        if _VOLATILE.fullmatch(identifier.lower()):
            continue  # a hex id such as "cbd8f0a1" is not split into the words "cbd", "f" and "a"
        parts = [part.lower() for piece in identifier.split("_") for part in _CAMEL.findall(piece)]
        for part in parts:
            if not part.isdigit():
                add(part)
        whole = identifier.lower().strip("_")
        if len(parts) > 1 and not _VOLATILE.fullmatch(whole):
            add(whole.replace("_", ""))
    cleaned = _VOLATILE.sub(" ", value.lower())
    for word in _WORD.findall(cleaned):
        add(word)
    return found


def document(
    *,
    title: str,
    service: str,
    category: str | None,
    error: str | None,
    functions: Iterable[str | None] = (),
    files: Iterable[str] = (),
    root_cause: str | None = None,
    pr_title: str | None = None,
) -> SearchDocument:
    """The indexed text of one incident, normalised."""
    body_parts = [category or "", " ".join(f for f in functions if f), " ".join(files)]
    body_parts += [root_cause or "", pr_title or ""]
    return SearchDocument(
        title=" ".join(words(f"{service} {title}")),
        error=" ".join(words(error)),
        body=" ".join(words(" ".join(body_parts))),
    )


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def index_incident(connection: Connection, pk: int, doc: SearchDocument) -> None:
    """Add or replace one incident's entry, in the caller's transaction."""
    if _is_sqlite(connection):
        connection.execute(text("DELETE FROM incident_search WHERE rowid = :pk"), {"pk": pk})
        connection.execute(
            text("INSERT INTO incident_search (rowid, title, error, body) VALUES (:pk, :title, :error, :body)"),
            {"pk": pk, "title": doc.title, "error": doc.error, "body": doc.body},
        )
        return
    connection.execute(text(_PG_UPSERT), {"pk": pk, "title": doc.title, "error": doc.error, "body": doc.body})


_PG_UPSERT = (
    "INSERT INTO incident_search (incident_pk, document) VALUES (:pk, "
    "setweight(to_tsvector('english', :title), 'A') || setweight(to_tsvector('english', :error), 'B')"
    " || setweight(to_tsvector('english', :body), 'C')) "
    "ON CONFLICT (incident_pk) DO UPDATE SET document = EXCLUDED.document"
)


def index_incidents(connection: Connection, entries: Sequence[tuple[int, SearchDocument]]) -> None:
    """index_incident for many incidents, in a statement or two for all of them."""
    if not entries:
        return
    params = [{"pk": pk, "title": doc.title, "error": doc.error, "body": doc.body} for pk, doc in entries]
    if not _is_sqlite(connection):
        connection.execute(text(_PG_UPSERT), params)
        return
    connection.execute(text("DELETE FROM incident_search WHERE rowid = :pk"), [{"pk": pk} for pk, _ in entries])
    connection.execute(
        text("INSERT INTO incident_search (rowid, title, error, body) VALUES (:pk, :title, :error, :body)"), params
    )


def stored_document(connection: Connection, pk: int) -> SearchDocument | None:
    """What is indexed for an incident (SQLite keeps the text; PostgreSQL only the vector)."""
    if not _is_sqlite(connection):
        return None
    row = connection.execute(
        text("SELECT title, error, body FROM incident_search WHERE rowid = :pk"), {"pk": pk}
    ).first()
    return SearchDocument(row[0], row[1], row[2]) if row else None


def index_fix(connection: Connection, pk: int, doc: SearchDocument, *, root_cause: str, pr_title: str) -> None:
    """Add a fix's root cause and PR title to an incident's entry."""
    extra = " ".join(words(f"{root_cause} {pr_title}"))
    index_incident(connection, pk, SearchDocument(doc.title, doc.error, f"{doc.body} {extra}".strip()))


def _query_terms(doc: SearchDocument) -> list[str]:
    terms: list[str] = []
    for field in (doc.title, doc.error, doc.body):
        for word in field.split():
            if word not in terms:
                terms.append(word)
    return terms[:MAX_QUERY_TERMS]


# Newest first, stopping at the limit: nothing is scored. On SQLite, FTS5 reads a word's doclist
# backwards only after loading it, so each word costs its whole doclist: hence few words. The
# incidents' rows come in the same statement: on this path a query saved is a good share of the cost.
# Columns by name, as SHOWN (the database's order is not the table object's after migrations), and
# only what a match shows: the JSON columns alone would cost more than the search.
SHOWN = (
    incidents.c.pk,
    incidents.c.created_at,
    incidents.c.title,
    incidents.c.service,
    incidents.c.status,
    incidents.c.pr_url,
    incidents.c.pr_number,
)
_REPEATS_SQLITE = text(
    "SELECT incidents.pk, incidents.created_at, incidents.title, incidents.service, incidents.status, "
    "incidents.pr_url, incidents.pr_number FROM incident_search JOIN incidents ON incidents.pk = incident_search.rowid "
    "WHERE incident_search MATCH :query AND incident_search.rowid < :before "
    "ORDER BY incident_search.rowid DESC LIMIT :limit"
).columns(*SHOWN)
_REPEATS_POSTGRES = text(
    "SELECT incidents.pk, incidents.created_at, incidents.title, incidents.service, incidents.status, "
    "incidents.pr_url, incidents.pr_number FROM incident_search "
    "JOIN incidents ON incidents.pk = incident_search.incident_pk "
    "WHERE incident_search.document @@ to_tsquery('english', :query) AND incident_search.incident_pk < :before "
    "ORDER BY incident_search.incident_pk DESC LIMIT :limit"
).columns(*SHOWN)


def _longest(words: Iterable[str], count: int, besides: Sequence[str] = ()) -> list[str]:
    return sorted((word for word in set(words) if word not in besides), key=lambda w: (-len(w), w))[:count]


def _repeat_terms(doc: SearchDocument) -> list[str]:
    """The longest words of the title and of the error: long words are the rare ones (class,
    function and metric names). Few, because each costs its whole doclist (see above)."""
    title = _longest(doc.title.split(), REPEAT_TITLE_WORDS)
    return title + _longest(doc.error.split(), REPEAT_ERROR_WORDS, title)


def repeats(connection: Connection, doc: SearchDocument, *, before_pk: int, limit: int = CANDIDATES) -> list[Any]:
    """The rows of the most recent earlier incidents whose text has the longest words of ``doc``'s title
    and of its error: the same fault seen again, worded alike. Found newest first, stopping at
    ``limit``, so a fault repeated thousands of times costs no more than one seen a few times."""
    terms = _repeat_terms(doc)
    if len(terms) < REPEAT_MIN_WORDS:
        return []
    if _is_sqlite(connection):
        statement, query = _REPEATS_SQLITE, " AND ".join(f'"{term}"' for term in terms)
    else:
        statement, query = _REPEATS_POSTGRES, " & ".join(terms)
    return list(connection.execute(statement, {"query": query, "before": before_pk, "limit": limit}).all())


def nearest(
    connection: Connection, doc: SearchDocument, *, before_pk: int, limit: int = CANDIDATES
) -> list[tuple[int, float]]:
    """Earlier incidents (``pk < before_pk``) whose text matches ``doc`` best, as (pk, score).

    Every earlier incident sharing a word is scored, so on a large store this costs a score for each of
    them: ``repeats`` first, where a fault comes back often."""
    terms = _query_terms(doc)
    if not terms:
        return []
    if _is_sqlite(connection):
        # Each term quoted, so no word is read as an FTS5 operator; OR, so any shared word counts
        # and bm25 weighs how many and how rare. bm25 is lower for better matches: negate it.
        query = " OR ".join(f'"{term}"' for term in terms)
        rows = connection.execute(
            text(
                "SELECT rowid, -bm25(incident_search, 4.0, 2.0, 1.0) AS score FROM incident_search "
                "WHERE incident_search MATCH :query AND rowid < :before ORDER BY score DESC LIMIT :limit"
            ),
            {"query": query, "before": before_pk, "limit": limit},
        ).all()
    else:
        # The words are letters and digits only (see words()), so they are safe tsquery lexemes.
        query = " | ".join(terms)
        rows = connection.execute(
            text(
                "SELECT incident_pk, ts_rank_cd(document, query, 1) AS score "
                "FROM incident_search, to_tsquery('english', :query) AS query "
                "WHERE document @@ query AND incident_pk < :before ORDER BY score DESC, incident_pk DESC LIMIT :limit"
            ),
            {"query": query, "before": before_pk, "limit": limit},
        ).all()
    return [(int(pk), float(score)) for pk, score in rows]


def rank(candidates: Sequence[tuple[int, float, str]], *, limit: int = 3) -> list[tuple[int, float, str]]:
    """Best first; a verified fix goes before others at equal relevance (scores within 2%)."""
    if not candidates:
        return []
    top = max(score for _, score, _ in candidates) or 1.0

    def key(item: tuple[int, float, str]) -> tuple[int, int, int]:
        pk, score, outcome = item
        return (-round(score / top * 50), 0 if outcome == "verified" else 1, -pk)

    return sorted(candidates, key=key)[:limit]
