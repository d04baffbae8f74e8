"""server/api/errors.py: one table maps both error trees to HTTP statuses, one handler writes the answer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from fixer.errors import (
    BranchTakenOver,
    FixerError,
    ForgeRateLimited,
    OpenPullRequestCapReached,
    PathOutsideRepo,
    PolicyViolation,
    VerificationRefused,
    WorkspaceError,
)
from server.api.errors import install, status_of
from server.errors import (
    ConfigError,
    Conflict,
    DeploymentsNotConfigured,
    DeploymentUnauthorized,
    DestinationRefused,
    HealerError,
    IdempotencyConflict,
    IncidentNotFound,
    InvalidInput,
    InvalidRunTransition,
    NoPostmortem,
    PersonRequired,
    RepoUnavailable,
    ReviewError,
    SignInRefused,
    StoreUnavailable,
    TooManyRefusals,
    WebhookNotConfigured,
    WebhookSignatureInvalid,
    WebhookUnauthorized,
)
from server.intake.sources.errors import CertificateUnavailable, PayloadInvalid, SourceNotFound, SourceUnauthorized


class NotListed(Conflict):
    """A subclass the table does not name answers as its nearest listed base."""


def answer(exc: Exception) -> tuple[int, dict[str, Any]]:
    app = FastAPI()
    install(app)

    @app.get("/raise")
    def _raise() -> None:
        raise exc

    reply = TestClient(app, base_url="http://127.0.0.1").get("/raise")
    return reply.status_code, reply.json()


def body(exc: HealerError | FixerError, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "message": exc.message, **extra}}


CASES: list[tuple[HealerError | FixerError, int, dict[str, Any]]] = [
    (IncidentNotFound("INC-20261122-0042"), 404, {}),  # NotFound
    (NoPostmortem("INC-20261122-0042", "pending"), 404, {}),  # NotFound, moved from server/review/postmortem.py
    (SourceNotFound("nagios", ["sentry"]), 404, {}),  # NotFound, in server/intake/sources/errors.py
    (InvalidInput("title: too short", field="title"), 422, {"field": "title"}),  # the field at fault
    (PayloadInvalid("alerts[0]", "expected an object"), 422, {"field": "alerts[0]"}),  # InvalidInput
    (IdempotencyConflict("k-1"), 409, {"field": "Idempotency-Key"}),  # an InvalidInput with its own row
    (WebhookSignatureInvalid("stale timestamp"), 401, {"field": "webhook-signature"}),  # its own row
    (InvalidRunTransition("7", "fixed", "running", []), 409, {}),  # Conflict
    (ReviewError("pull request #3 is merged"), 409, {}),  # Conflict
    (TooManyRefusals(10, "refused by policy"), 409, {"permanent": True}),  # says permanent, as the fixer's do
    (NotListed("late"), 409, {}),  # inherits Conflict's row through its MRO
    (PersonRequired("a shared token cannot approve"), 403, {}),  # Forbidden
    (DestinationRefused("http://169.254.169.254 is refused"), 403, {}),  # Forbidden
    (SignInRefused("not the API token"), 401, {}),  # Unauthenticated
    (SourceUnauthorized("am-prod", "bearer token"), 401, {}),  # Unauthenticated
    (WebhookUnauthorized("missing X-Hub-Signature-256"), 401, {}),  # Unauthenticated
    (DeploymentUnauthorized("no credential"), 401, {}),  # Unauthenticated
    (StoreUnavailable("connection refused"), 503, {}),  # Unavailable
    (RepoUnavailable("not a git repository"), 503, {}),  # Unavailable
    (CertificateUnavailable("https://sns.example/cert.pem", "timed out"), 503, {}),  # Unavailable
    (WebhookNotConfigured(), 503, {}),  # Unavailable
    (DeploymentsNotConfigured(), 503, {}),  # Unavailable
    (ConfigError("expected a table", file="healer.toml", key="repos"), 500, {}),  # HealerError's row
    (
        PolicyViolation("no-ci-files", ".github/x.yml", "CI"),
        422,
        {"field": ".github/x.yml", "permanent": True, "rule": "no-ci-files"},
    ),  # ChangeRefused
    (
        PathOutsideRepo("../x", "'..' would leave the repository"),
        422,
        {"field": "../x", "permanent": True, "rule": "path-inside-repo"},
    ),  # ChangeRefused
    (VerificationRefused("red and drafts are off"), 422, {"permanent": True}),  # its own row
    (OpenPullRequestCapReached("acme/calc", 3), 409, {"permanent": False}),  # FixerError's row
    (BranchTakenOver("healer/INC-1", "ana"), 409, {"permanent": True}),  # FixerError's row
    (ForgeRateLimited("slow down", 30.0), 502, {"permanent": False}),  # ForgeError
    (WorkspaceError("clone failed"), 500, {"permanent": False}),  # its own row
]


@pytest.mark.parametrize(("exc", "status", "extra"), CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_each_error_answers_its_tables_status_and_body(
    exc: HealerError | FixerError, status: int, extra: dict[str, Any]
) -> None:
    assert status_of(exc) == status
    assert answer(exc) == (status, body(exc, **extra))
