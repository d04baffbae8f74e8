"""Our errors, and FastAPI's validation errors, as JSON answers: one handler each, in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fixer.errors import ChangeRefused, FixerError, ForgeError, VerificationRefused, WorkspaceError
from server.errors import HealerError, InvalidInput


class Problem(BaseModel):
    field: str
    reason: str


class ErrorDetail(BaseModel):
    """What failed; some errors add context (``permanent``, ``rule``) beyond the fields named here."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="What happened, e.g. InvalidInput, IncidentNotFound, Unauthorized, BodyTooLarge.")
    message: str = Field(description="What failed, why, and what to send instead.")
    field: str | None = Field(default=None, description="The input at fault, when one is; absent otherwise.")
    problems: list[Problem] | None = Field(default=None, description="Every invalid field (422 on a bad body).")


class Error(BaseModel):
    """Every error answer: ``{"error": {"type", "message", "field"?, ...}}``."""

    error: ErrorDetail


def error_body(kind: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return {"error": body}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _healer_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HealerError)
    field = exc.field if isinstance(exc, InvalidInput) else None
    return JSONResponse(error_body(type(exc).__name__, exc.message, field), status_code=exc.status_code)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    invalid_json = any(error.get("type") in ("json_invalid",) for error in exc.errors())
    for error in exc.errors():
        field = _field_of(tuple(error.get("loc", ())))
        problems.append({"field": field, "reason": error.get("msg", "invalid")})
    first = problems[0] if problems else {"field": "body", "reason": "invalid"}
    if invalid_json or first["reason"].startswith("JSON decode error"):
        message = f"the body is not valid JSON ({first['reason']}); send one JSON object"
    else:
        message = f"{first['field']}: {first['reason']}"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more problem(s), listed in `problems`)"
    return JSONResponse(error_body("InvalidInput", message, first["field"], problems=problems), status_code=422)


async def _fixer_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FixerError)
    if isinstance(exc, ChangeRefused | VerificationRefused):
        status = 422
    elif isinstance(exc, ForgeError):
        status = 502
    elif isinstance(exc, WorkspaceError):
        status = 500
    else:
        status = 409  # the cap, a branch a person took over
    extra = {"permanent": exc.permanent}
    rule = getattr(exc, "rule", None)
    if rule:
        extra["rule"] = rule
    return JSONResponse(
        error_body(type(exc).__name__, exc.message, getattr(exc, "path", None), **extra), status_code=status
    )


_HTTP_KINDS = {404: "NotFound", 405: "MethodNotAllowed"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own answers (no such route, wrong method) in the same shape as ours."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}; the routes are listed at /docs and /openapi.json"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    kind = _HTTP_KINDS.get(exc.status_code, "HTTPError")
    return JSONResponse(error_body(kind, message), status_code=exc.status_code, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(HealerError, _healer_error)
    app.add_exception_handler(FixerError, _fixer_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
