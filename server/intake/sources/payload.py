"""Reading a body: JSON decoding and pydantic validation whose errors name the JSON path.

Each source describes the parts of its payload it reads as ``Payload`` models (unknown keys
ignored, numbers accepted where a string is expected). A validation error becomes
``PayloadInvalid`` with a path such as ``alerts[0].labels`` and a reason such as
``expected an object, got a string``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from server.common import strict_json
from server.intake.sources.errors import PayloadInvalid

M = TypeVar("M", bound=BaseModel)

#: Go's zero time: Alertmanager and Grafana send it as `endsAt` of an alert still firing.
_ZERO_YEAR = 1


class Payload(BaseModel):
    """The part of a third-party body a source reads: lenient on extras, strict on shapes."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


_EXPECTED: dict[str, str] = {
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "list_type": "expected an array",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "datetime_type": "expected an RFC 3339 time",
    "datetime_parsing": "expected an RFC 3339 time",
    "datetime_from_date_parsing": "expected an RFC 3339 time",
    "missing": "missing",
    "extra_forbidden": "unknown key",
}

# Error kinds whose reason is not about the type of the value that was sent.
_NO_GOT = frozenset({"missing", "extra_forbidden", "value_error"})


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def json_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``("alerts", 0, "labels")`` -> ``alerts[0].labels``; the body itself is ``$``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "$"


def validate(model: type[M], data: object, *, source_type: str, prefix: str = "") -> M:
    """``model`` read from ``data``, or ``PayloadInvalid`` naming the first wrong path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        kind = str(error["type"])
        message = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "expected")
        reason = _EXPECTED.get(kind) or message
        if kind not in _NO_GOT:
            reason = f"{reason}, got {json_type(error.get('input'))}"
        raise PayloadInvalid(json_path(tuple(error["loc"]), prefix), reason, source_type=source_type) from None


def decode_object(body: bytes | str, *, source_type: str | None = None, path: str = "$") -> dict[str, Any]:
    """The JSON object in ``body``; anything else is ``PayloadInvalid``."""
    try:
        value = strict_json.loads(body)
    except ValueError as exc:  # also nesting deeper than strict_json.MAX_DEPTH and lone surrogates
        raise PayloadInvalid(path, f"not valid JSON ({exc})", source_type=source_type) from None
    if not isinstance(value, dict):
        raise PayloadInvalid(path, f"expected a JSON object, got {json_type(value)}", source_type=source_type)
    return value


def real_time(value: datetime | None) -> datetime | None:
    """None for a missing time or Go's zero time (``0001-01-01T00:00:00Z``)."""
    if value is None or value.year == _ZERO_YEAR:
        return None
    return value


def epoch_time(value: str | float | None) -> datetime | None:
    """A time from epoch seconds or milliseconds (numbers or digit strings), else None."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number > 1e11:  # milliseconds: seconds would be past the year 5000
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
