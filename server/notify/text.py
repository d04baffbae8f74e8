"""Untrusted incident text made safe for each channel: escaped, de-fanged mentions, capped lengths."""

from __future__ import annotations

import re
from collections.abc import Callable

ZERO_WIDTH_SPACE = "\u200b"
ELLIPSIS = "…"

_BROADCASTS = re.compile(r"@(channel|here|everyone|all)\b", re.IGNORECASE)


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def one_line(text: str) -> str:
    return " ".join(text.split())


def slack_mrkdwn(text: str) -> str:
    """Escape for Slack mrkdwn: ``&``, ``<``, ``>`` as entities (which also disarms ``<!channel>``,
    ``<@U123>`` and ``<url|label>``), and plain ``@here``-style broadcasts broken by a zero-width space."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCASTS.sub(lambda found: "@" + ZERO_WIDTH_SPACE + found.group(1), escaped)


def slack_plain(text: str) -> str:
    """For Slack ``plain_text`` objects (not parsed as mrkdwn, so entities would show): a zero-width
    space after every ``<`` and ``@`` broadcast, so no reading of the text can form a mention or link."""
    broken = text.replace("<", "<" + ZERO_WIDTH_SPACE)
    return _BROADCASTS.sub(lambda found: "@" + ZERO_WIDTH_SPACE + found.group(1), broken)


def slack_code(text: str) -> str:
    """Text for inside a Slack ``` block: escaped, and no fence that could close the block early."""
    return slack_mrkdwn(text).replace("```", "`" + ZERO_WIDTH_SPACE + "``")


def fit(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """Escape, then cap to ``limit`` without cutting an entity (``&amp;``) or an escape (``\\*``) in half."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(0, limit - 1)]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut.rstrip() + ELLIPSIS


_TEAMS_SPECIAL = re.compile(r"([\\`*_\[\]<>~|])")
_TEAMS_LINE_START = re.compile(r"(?m)^(\s*)([#>+-]|\d+\.)")


def teams_markdown(text: str) -> str:
    """Escape for Adaptive Card / Teams markdown: emphasis, links, code, and line-leading list or heading marks."""
    escaped = _TEAMS_SPECIAL.sub(r"\\\1", text)
    escaped = _TEAMS_LINE_START.sub(lambda found: found.group(1) + "\\" + found.group(2), escaped)
    return _BROADCASTS.sub(lambda found: "@" + ZERO_WIDTH_SPACE + found.group(1), escaped)
