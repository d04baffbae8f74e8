"""The table of each incident's similar-incident candidates, found once when it is indexed at triage."""

from sqlalchemy import Column, Float, ForeignKey, Table

from server.store.schema import BigId, metadata

# The earlier incidents an incident's text matched, one row each with its score. An incident's own
# text does not change after triage, so its matches are found then, once; what became of each
# (status, fix, pull request) is read from the incidents' rows at read time. Each searched incident
# also has a row naming itself, with no score: it says the search ran (even when nothing matched)
# and brings the incident's own created_at into the same query.
incident_similar = Table(
    "incident_similar",
    metadata,
    Column("incident_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), primary_key=True),
    Column("candidate_pk", BigId, ForeignKey("incidents.pk", ondelete="CASCADE"), primary_key=True),
    Column("score", Float, nullable=True),
)
