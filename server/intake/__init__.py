"""Intake: reports and monitor alerts in, normalized and redacted incidents stored (status ``received``).

In:      a posted report (``POST /incidents``) or one monitor delivery (``POST /alerts/{source}``):
         ``sources/`` verifies each monitor's signature or secret and parses its body.
Out:     a ``NewIncident`` (``reports``), stored as a new incident or one more occurrence by
         ``server.store.ingest``; alerts and their resolution (``alerts``).
Imports: ``server.common``, ``server.store``, ``server.config``, ``server.models``, ``server.errors``.
"""
