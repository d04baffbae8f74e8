"""Similar past incidents: the store's own full-text index, and each match with what became of it.

In:      an incident (indexed at triage and when its PR opens) or an incident id to match.
Out:     up to three earlier incidents with their outcome, root cause, PR and changed files.
Imports: ``server.store``, ``server.models``, ``server.errors``.
"""
