"""Fixing: an agent's change for a claimed incident, through the fixer, to a pull request.

In:      a ``FixSubmission`` from the MCP tool, the REST route or an agent run; the repository map.
Out:     a ``FixOutcome`` (PR opened or updated, held for approval, or refused with the reason);
         the repository context an agent reads first (``repo_context``); attempts, back-off and
         recovery after a crash; the sandbox mode for each repository.
Imports: ``fixer`` (the pipeline, which imports nothing from here), ``server.approvals.policy``,
         ``server.triage.policy``, ``server.similar``, ``server.intake.stacktrace``, the review
         loop's event names, ``server.lifecycle``, ``server.common``, ``server.store``,
         ``server.config``, ``server.models``, ``server.errors``.
"""
