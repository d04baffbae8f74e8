"""Plumbing every part of the server shares; nothing here knows what an incident is for.

In:      the environment, raw text and bytes, exceptions.
Out:     settings, a clock, structured logs, redacted text, strictly parsed JSON, fenced untrusted
         text, retry delays, secrets read from ``env:NAME``, TOML key lines, the listening socket.
Imports: ``server.errors`` and ``server.models`` only; every other package may import this one.
"""
