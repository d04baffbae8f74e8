"""Agents the server starts itself: configuration, runs, their sandboxed processes and transcripts."""
