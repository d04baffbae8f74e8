"""Triage: classify an incident (category, severity, summary, fix) and route it (who acts, how far).

The core here is pure: typed inputs, pydantic outputs, no store, no protocol, time and
randomness passed in. The store and the REST/CLI faces call these functions.
"""
