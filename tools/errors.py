"""Our errors as MCP tool errors: the one place the MCP face translates them.

Only the text of a raised ToolError reaches the model, so each message already says what was
wrong and what to call next; this adapter adds nothing but the translation.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mcp.server.mcpserver.exceptions import ToolError

from fixer.errors import FixerError
from server.errors import HealerError

log = logging.getLogger(__name__)


@contextmanager
def agent_errors() -> Iterator[None]:
    try:
        yield
    except HealerError as exc:
        log.info("tool refused: %s", exc.message)
        raise ToolError(exc.message) from exc
    except FixerError as exc:
        log.info("fix refused: %s", exc.message)
        raise ToolError(exc.message) from exc
