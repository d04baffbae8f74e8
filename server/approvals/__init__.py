"""Approvals: a verified person's yes before agents work on an incident, or before a held fix opens its PR.

In:      an approval asked for by triage or by the fix pipeline; an answer from a person (``people``).
Out:     approval rows and timeline events; an approved incident released to agents, or its held
         fix run (``answers``, the one use case every face calls).
Imports: ``server.common``, ``server.store``, ``server.notify``, ``server.triage`` (the routing
         policy), ``server.fixing`` (to run a released fix), ``server.config``, ``server.models``,
         ``server.errors``.
"""
