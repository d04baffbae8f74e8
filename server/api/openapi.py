"""The /openapi.json document: what the routes declare, plus the answers the guards and handlers give."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from server.api.errors import Error
from server.api.guards import OPEN_PATHS
from server.models import IncidentIn

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_BODY_METHODS = frozenset({"post", "put", "patch"})
_DESCRIPTIONS = {
    401: "Missing or wrong bearer token (`Authorization: Bearer <HEALER_API_TOKEN>`)",
    404: "No such resource; `error.type` says which (e.g. IncidentNotFound)",
    413: "Body larger than HEALER_MAX_BODY_BYTES",
    422: "Invalid input; `error.field` names the field and `error.problems` lists every one",
}


def install(app: FastAPI, *, guarded: bool, self_authenticated: Collection[str] = ()) -> None:
    """Serve a schema whose error answers are our Error shape, with the bearer scheme when a token is set."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = describe(schema, guarded=guarded, self_authenticated=self_authenticated)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(schema: dict[str, Any], *, guarded: bool, self_authenticated: Collection[str] = ()) -> dict[str, Any]:
    """FastAPI's schema, corrected to what the server answers."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # Routes that parse their own body (the intake hot path) still get its schema.
    body = IncidentIn.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(body.pop("$defs", {}))
    components["IncidentIn"] = body
    error = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error.pop("$defs", {}))
    components["Error"] = error
    # Our handler answers validation errors in the Error shape, never FastAPI's {"detail": [...]}.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    if guarded:
        schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "HEALER_API_TOKEN"}
        }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _describe_operation(path, method, operation, guarded=guarded, self_authenticated=self_authenticated)
    return schema


def _describe_operation(
    path: str, method: str, operation: dict[str, Any], *, guarded: bool, self_authenticated: Collection[str]
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "{" in path:  # every path parameter names something looked up: an incident, a source
        responses.setdefault("404", {})
    if method in _BODY_METHODS:  # BodyLimit refuses any oversize body before the route reads it
        responses.setdefault("413", {})
    if guarded and path not in OPEN_PATHS:
        responses.setdefault("401", {})
        if path in self_authenticated or path.startswith("/alerts/"):
            # These senders prove who they are their own way (a signature, a source's secret);
            # a source without one is behind the token.
            operation["security"] = [{"bearer": []}, {}]
        else:
            operation["security"] = [{"bearer": []}]
    for status, response in responses.items():
        code = int(status) if status.isdigit() else 0
        if not 400 <= code < 500:
            continue
        response.setdefault("description", _DESCRIPTIONS.get(code, "Refused"))
        if code == 422 or "content" not in response:
            response["content"] = {"application/json": {"schema": _ERROR_REF}}
