"""Our errors, and FastAPI's validation errors, as JSON answers: one table and one handler each, in one place.

``STATUS`` maps an error class to its HTTP status; an error answers with the status of the first
class in its MRO that the table lists, so a subclass inherits its parent's row unless it has one.
Both trees are translated here (the core's ``HealerError``, the fixer's ``FixerError``); the
answer's ``type`` is the error's class name.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from fixer.errors import ChangeRefused, FixerError, ForgeError, VerificationRefused, WorkspaceError
from server.errors import (
    Conflict,
    Forbidden,
    HealerError,
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    TooManyRefusals,
    Unauthenticated,
    Unavailable,
    WebhookSignatureInvalid,
)

#: Error class -> HTTP status. Looked up along the error's MRO: the nearest listed class decides.
STATUS: dict[type[Exception], int] = {
    HealerError: 500,
    NotFound: 404,
    InvalidInput: 422,
    IdempotencyConflict: 409,  # the key was used with another body
    WebhookSignatureInvalid: 401,  # a bad signature is an input, but it proves nobody
    Conflict: 409,
    Forbidden: 403,
    Unauthenticated: 401,
    Unavailable: 503,
    FixerError: 409,  # the cap, a branch a person took over, no sandbox, no test command
    ChangeRefused: 422,
    VerificationRefused: 422,
    ForgeError: 502,
    WorkspaceError: 500,
}
#: The roots of the translated trees: everything else is not ours and answers 500 without detail.
ROOTS: tuple[type[Exception], ...] = (HealerError, FixerError)


def status_of(exc: HealerError | FixerError) -> int:
    """The HTTP status of one of our errors: the row of the nearest class in its MRO."""
    for cls in type(exc).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    raise TypeError(f"{type(exc).__name__} is not one of our errors")  # unreachable: the roots are listed


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


def _context(exc: HealerError | FixerError) -> tuple[str | None, dict[str, Any]]:
    """The input at fault and the extra context the answer carries: the fixer's errors say whether a
    retry can help (and which policy rule refused); the core's name the field of a bad input."""
    extra: dict[str, Any] = {}
    if isinstance(exc, FixerError):
        extra["permanent"] = exc.permanent
        rule = getattr(exc, "rule", None)
        if rule:
            extra["rule"] = rule
        return getattr(exc, "path", None), extra
    if isinstance(exc, TooManyRefusals):  # it ends the fixer's refusals, so it says what they say
        extra["permanent"] = exc.permanent
    return (exc.field if isinstance(exc, InvalidInput) else None), extra


async def _our_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HealerError | FixerError)
    field, extra = _context(exc)
    return JSONResponse(error_body(type(exc).__name__, exc.message, field, **extra), status_code=status_of(exc))


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
    for root in ROOTS:
        app.add_exception_handler(root, _our_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
