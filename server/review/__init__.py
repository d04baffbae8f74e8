"""After the pull request: reviews, CI, the merge, the deploy, verification, a revert, the postmortem.

In:      GitHub webhook deliveries (``github_webhook``), the local forge's ``healer pr`` actions
         (``local_review``), ``POST /deployments``, and the clock for quiet windows.
Out:     review events applied to the incident (``reviews``), feedback for the agent (``models``,
         ``text``), ``verified`` or ``regressed`` (``verification``), a revert PR (``reverts``),
         the postmortem in Markdown (``postmortem``).
Imports: ``fixer`` (forges, the revert), ``server.fixing``, ``server.intake``, ``server.lifecycle``,
         ``server.common``, ``server.store``, ``server.config``, ``server.models``, ``server.errors``.
"""
