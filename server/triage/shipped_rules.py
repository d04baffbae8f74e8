"""The shipped rule set: how common failures really read in logs, traces and alerts.

Written from the messages databases, runtimes, kernels and orchestrators emit, not from any
one data set. Priorities: a specific cause (``No space left on device``) outranks the symptom
it produces (a timeout, a crash); generic exception names come last.
"""

from __future__ import annotations

from server.triage.rules import TriageRule
from server.triage.shipped_resources import RESOURCE_RULES
from server.triage.shipped_runtime import RUNTIME_RULES
from server.triage.shipped_setup import SETUP_RULES

#: In this order: disk, memory, database, auth, config, dependency, network, application.
SHIPPED_RULES: tuple[TriageRule, ...] = RESOURCE_RULES + SETUP_RULES + RUNTIME_RULES
