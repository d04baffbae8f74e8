"""Notifications: events, the channels that render them (Slack, Teams, signed webhooks), and which go where.

Channels only render an ``OutboundRequest``; sending, retrying and recording belong to the
outbox sender. Incident text is untrusted: every channel escapes and caps it.
"""
