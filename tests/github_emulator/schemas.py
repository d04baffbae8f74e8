"""GitHub's official REST schemas (OpenAPI 3.0), for validating what the emulator answers."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC_FILE = Path(__file__).with_name("api.github.com.trimmed.json")


@cache
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return data


def _jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _jsonschema(value) for key, value in node.items() if key not in ("nullable", "example", "examples")}
    if node.get("nullable"):
        if "type" in out:
            kinds = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*kinds, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _components() -> dict[str, Any]:
    return {"schemas": _jsonschema(spec()["components"]["schemas"])}


@cache
def _operations() -> list[tuple[str, re.Pattern[str], str]]:
    ops = []
    for path, methods in spec()["paths"].items():
        pattern = re.sub(r"\{(ref|branch)\}", ".+", path)  # these may hold slashes
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", pattern)
        for method in methods:
            if method in ("get", "post", "patch", "put", "delete"):
                ops.append((method.upper(), re.compile(f"^{pattern}$"), path))
    return ops


def operation(method: str, path: str) -> str | None:
    """The documented path template a request path belongs to, or None."""
    for verb, pattern, template in _operations():
        if verb == method and pattern.match(path):
            return template
    return None


def find_template(method: str, template: str) -> str | None:
    """``template`` when it is a documented operation for ``method``, else None."""
    return template if any(verb == method and path == template for verb, _p, path in _operations()) else None


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    responses = spec()["paths"][template][method.lower()]["responses"]
    answer = responses.get(str(status))
    if answer is None:
        return None
    if "$ref" in answer:
        answer = spec()["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    return copy.deepcopy(schema) if schema is not None else None


def problems(method: str, path: str, status: int, body: Any) -> list[str]:
    """Why ``body`` is not what GitHub documents for this request and status (empty when it is)."""
    template = operation(method, path)
    if template is None:
        return [f"{method} {path} is not an operation in the trimmed description"]
    validator = _validator(method, template, status, body is None)
    if validator is None:
        return [] if body is None else [f"{method} {template} documents no JSON body for {status}"]
    return [
        f"{method} {template} {status}: {error.message} at {list(error.absolute_path)}"
        for error in validator.iter_errors(body)
    ][:5]


@cache
def _validator(method: str, template: str, status: int, empty: bool) -> jsonschema.Draft4Validator | None:
    schema = response_schema(method, template, status)
    if schema is None and status >= 400 and not empty:
        # GitHub answers any request with these (401 bad credentials, say) in its basic error shape.
        schema = {"$ref": "#/components/schemas/basic-error"}
    if schema is None:
        return None
    return jsonschema.Draft4Validator({**_jsonschema(schema), "components": _components()})


def example(name: str) -> Any:
    """One of the description's own examples, to build realistic answers from."""
    value = spec()["components"]["examples"][name]["value"]
    return copy.deepcopy(value)
