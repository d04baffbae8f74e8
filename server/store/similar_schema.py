"""The table of each incident's similar-incident candidates, found once when it is indexed at triage."""

from sqlalchemy import JSON, Column, ForeignKey, Table

from server.store.schema import BigId, metadata

# One row per indexed incident: the earlier incidents its text matched, as [[pk, score], ...] best
# first. An incident's own text does not change after triage, so its matches are found then, once;
# what became of each (status, fix, pull request) is read from the incidents' rows at read time.
incident_similar = Table(
    "incident_similar",
    metadata,
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), primary_key=True),
    Column("candidates", JSON, nullable=False),
)
