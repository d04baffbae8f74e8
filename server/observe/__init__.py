"""Watching the loop: the live feed, Prometheus figures, loop times, and where each incident stands.

In:      the store's timeline and incidents.
Out:     feed events for the dashboard and ``/events``, ``/metrics`` text, loop-time figures,
         the stage (label and icon) of each status.
Imports: ``server.common``, ``server.store``, ``server.models``.
"""
