"""Review comment text: what CodeRabbit's comments carry for the agent (its prompt, its count of
actionable comments, a suggested change). Pure functions over the comment body; no I/O."""

from __future__ import annotations

import re

_PROMPT = re.compile(r"Prompt for AI Agents\s*</summary>\s*(.*?)</details>", re.DOTALL | re.IGNORECASE)
_PROMPT_FENCE = re.compile(r"^\s*```[a-z]*\n(.*?)\n```\s*$", re.DOTALL)
_SUGGESTION = re.compile(r"```suggestion\n(.*?)\n```", re.DOTALL)
_ACTIONABLE = re.compile(r"Actionable comments posted:\s*(\d+)", re.IGNORECASE)
CODERABBIT = "coderabbitai[bot]"


def prompt_for_agents(body: str) -> str | None:
    """CodeRabbit's "Prompt for AI Agents" section of a comment, when it has one."""
    match = _PROMPT.search(body)
    if match is None:
        return None
    text = match.group(1).strip()
    fenced = _PROMPT_FENCE.match(text)
    return (fenced.group(1) if fenced else text).strip() or None


def actionable_comments(author: str, body: str) -> int | None:
    """CodeRabbit's "Actionable comments posted: N" from its review body; None for other authors or bodies."""
    if author.split(":", 1)[-1] != CODERABBIT:
        return None
    match = _ACTIONABLE.search(body)
    return int(match.group(1)) if match else None


def suggestion_of(body: str) -> str | None:
    match = _SUGGESTION.search(body)
    return match.group(1) if match else None
