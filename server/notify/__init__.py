"""Notifications: events, the channels that render them (Slack, Teams, signed webhooks), and which go where.

In:      outbox rows written in the same transaction as the state change they announce.
Out:     deliveries per channel, at least once, retried with back-off, folded in a storm.
Channels only render an ``OutboundRequest``; sending, retrying and recording belong to the
outbox ``sender``. Incident text is untrusted: every channel escapes and caps it.
Imports: ``server.common``, ``server.store``, ``server.config``, ``server.models``, ``server.errors``.
"""
