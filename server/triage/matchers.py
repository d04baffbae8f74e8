"""Alertmanager-style label matchers (``=``, ``!=``, ``=~``, ``!~``) over an incident's fields and labels.

Written as strings (``'severity=~"critical|high"'``, ``service!=payments``) or as tables
(``{ name = "severity", op = "=~", value = "critical|high" }``). Regular expressions are fully
anchored, as in Alertmanager: ``=~"crit"`` does not match ``critical``. A name is an incident
field (service, source, title, error, log, severity, severity_rank, category, repo, confidence,
occurrences, attempts), ``labels.<key>``, or a bare label key. A name that resolves to nothing is
an error, which the router treats as no match and flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"[A-Za-z_][A-Za-z0-9_.]*"
_STRING_RE = re.compile(rf"^\s*({_NAME})\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


class Op(StrEnum):
    eq = "="
    ne = "!="
    regex = "=~"
    not_regex = "!~"


class MatcherError(ValueError):
    """A matcher that cannot be parsed (at load) or evaluated (a missing field)."""


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        body = raw[1:-1]
        out: list[str] = []
        escapes = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
        index = 0
        while index < len(body):
            char = body[index]
            if char == "\\" and index + 1 < len(body):
                following = body[index + 1]
                out.append(escapes.get(following, "\\" + following))
                index += 2
                continue
            if char == '"':
                raise MatcherError(f"unescaped '\"' inside the quoted value {raw}")
            out.append(char)
            index += 1
        return "".join(out)
    if raw.startswith('"') or raw.endswith('"'):
        raise MatcherError(f"unbalanced quotes in value {raw}")
    return raw


class Matcher(BaseModel):
    """One condition: ``name op value``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=rf"^{_NAME}$")
    op: Op = Op.eq
    value: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_matcher(data).model_dump()
        return data

    @model_validator(mode="after")
    def _regex_compiles(self) -> Matcher:
        if self.op in (Op.regex, Op.not_regex):
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.text}: not a valid regular expression ({exc})") from exc
        return self

    @property
    def text(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op.value}"{escaped}"'

    def pattern(self) -> re.Pattern[str]:
        return _anchored(self.value)

    def evaluate(self, values: Mapping[str, str]) -> tuple[bool, str]:
        """(matched, the value seen); raises MatcherError when the name resolves to nothing."""
        seen = resolve(self.name, values)
        if self.op is Op.eq:
            return seen == self.value, seen
        if self.op is Op.ne:
            return seen != self.value, seen
        found = self.pattern().fullmatch(seen) is not None
        return (found if self.op is Op.regex else not found), seen


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _anchored(value: str) -> re.Pattern[str]:
    # Compiled once per distinct expression; fullmatch anchors both ends like Alertmanager's ^(?:...)$.
    compiled = _PATTERNS.get(value)
    if compiled is None:
        compiled = _PATTERNS[value] = re.compile(f"(?:{value})", re.DOTALL)
    return compiled


def parse_matcher(text: str) -> Matcher:
    """Parse ``name op value`` where value is bare or double-quoted (``\\"`` and ``\\\\`` escapes)."""
    found = _STRING_RE.match(text)
    if found is None:
        raise MatcherError(
            f'cannot read matcher {text!r}; write it as name="value", name!="value", name=~"regex" or name!~"regex"'
        )
    name, op, raw = found.groups()
    return Matcher.model_validate({"name": name, "op": op, "value": _unquote(raw)})


def resolve(name: str, values: Mapping[str, str]) -> str:
    """The value ``name`` names: a field, ``labels.<key>``, or a bare label key."""
    if name in values:
        return values[name]
    if name.startswith("labels."):
        key = name.removeprefix("labels.")
        if f"labels.{key}" in values:
            return values[f"labels.{key}"]
        raise MatcherError(f"the incident has no label {key!r}")
    label = values.get(f"labels.{name}")
    if label is not None:
        return label
    raise MatcherError(f"{name!r} is neither an incident field nor one of its labels")
