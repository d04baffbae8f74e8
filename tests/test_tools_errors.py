"""tools/errors.py: one table turns our errors into the text an agent reads, and resources into resource errors."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from fixer.errors import FixerError, PatchDoesNotApply, PathOutsideRepo
from fixer.models import Change
from server.errors import HealerError, IncidentNotFound, InvalidInput, NoPostmortem, TooManyRefusals
from server.fixing.models import FixSubmission
from tools.errors import agent_errors, resource_errors, tool_text

CHANGE = Change(diff="--- a/app/db.py\n+++ b/app/db.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")


@pytest.mark.parametrize(
    "exc",
    [
        IncidentNotFound("INC-20261122-0042"),  # the core's: names the next call (get_pending_incidents)
        TooManyRefusals(10, "refused by policy"),  # a core error raised around the fixer
        PatchDoesNotApply("app/db.py", 42, 1, "context differs", "x = 1"),  # the fixer's: how to resend
        PathOutsideRepo("../x", "'..' would leave the repository", reading=True),  # the one path refusal
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_our_errors_reach_the_agent_as_their_own_message(exc: HealerError | FixerError) -> None:
    assert tool_text(exc) == exc.message
    with pytest.raises(ToolError) as caught, agent_errors():
        raise exc
    assert (str(caught.value), caught.value.__cause__) == (exc.message, exc)


def test_an_error_that_is_not_ours_passes_through_untranslated() -> None:
    assert tool_text(KeyError("x")) is None
    with pytest.raises(KeyError), agent_errors():
        raise KeyError("x")


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (IncidentNotFound("INC-20261122-0042"), ResourceNotFoundError),  # not found, to the client too
        (NoPostmortem("INC-20261122-0042", "pending"), ResourceError),  # HealerError's row
    ],
)
def test_resources_raise_the_tables_resource_error(exc: HealerError, kind: type[ResourceError]) -> None:
    with pytest.raises(ResourceError) as caught, resource_errors():
        raise exc
    assert (type(caught.value), str(caught.value)) == (kind, exc.message)


def test_a_submission_the_tool_arguments_let_through_is_refused_as_input() -> None:
    # submit_fix's `risk` has no length limit of its own; the submission's 5000 characters still hold.
    with pytest.raises(InvalidInput) as caught:
        FixSubmission.of(CHANGE, "Fix the pool", "The pool was too small.", risk="x" * 5001, addresses=[])
    assert caught.value.message == "the fix is not usable: String should have at most 5000 characters"
