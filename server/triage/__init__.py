"""Triage: classify a received incident (category, severity, summary, fix) and route it (who acts, how far).

In:      ``received`` incidents (the ``worker`` claims them), healer.toml's triage, routing and
         notify tables.
Out:     a verdict and a route stored in one transaction: ``triaged`` for agents, ``monitoring``,
         ``escalated`` or ``awaiting_approval``, with its notifications in the outbox.
The decision itself (``decide``, ``classifier``, ``routing``) is pure: typed inputs, pydantic
outputs, time passed in.
Imports: ``server.common``, ``server.store``, ``server.notify``, ``server.similar``,
         ``server.approvals``, ``server.lifecycle``, ``server.config``, ``server.models``, ``server.errors``.
"""
