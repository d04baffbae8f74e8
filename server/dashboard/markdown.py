"""Markdown to safe HTML for the dashboard: verification, postmortems and pull request bodies.

The text comes partly from failing systems and agents, so the HTML markdown-it writes goes
through nh3's allow-list: the tags our own PR text uses (``<details>``, ``<summary>``, ``<sub>``,
code, tables) survive; scripts, event handlers, styles, images and ``javascript:`` links do not.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

TAGS = frozenset(
    {
        "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code", "em", "strong",
        "del", "s", "sub", "sup", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "details",
        "summary", "kbd",
    }
)  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "code": {"class"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def render(text: str | None) -> Markup:
    """``text`` as sanitized HTML, ready to put in a page."""
    if not text:
        return Markup("")
    html = _PARSER.render(text)
    clean = nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(clean)  # noqa: S704 - nh3 has just removed everything not on the allow-list
