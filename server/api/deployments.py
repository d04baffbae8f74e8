"""``POST /deployments``: a deploy tool says which sha reached which environment."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from server.api.state import AppState
from server.common import strict_json
from server.errors import InvalidInput
from server.review import deployments
from server.review.deployments import DeploymentIn, DeploymentOutcome
from server.review.verification import load_verification

router = APIRouter(tags=["deployments"])


@router.post(
    "/deployments",
    response_model=DeploymentOutcome,
    summary="Report a deployment",
    description=(
        "For Argo CD notifications, Kestra or any deploy script: `{repo, sha, environment, status}`. Authenticated by "
        "the [deployments] table of healer.toml (a bearer token, a header secret, basic auth, or an "
        "`X-Healer-Signature-256: sha256=<hex HMAC-SHA256 of the body>`), before the body is read. A `success` in "
        "one of `[verification] environments` of a sha containing a merged fix's merge commit starts its quiet "
        'window (with `start = "deploy"`); a sha that does not contain it is noted on the incident\'s timeline.'
    ),
    responses={
        401: {"description": "No configured credential or signature"},
        422: {"description": "Not a deployment report, or an unknown repository"},
        503: {"description": "No [deployments] table in healer.toml"},
    },
)
async def report(request: Request) -> DeploymentOutcome:
    state: AppState = request.app.state.healer
    body = await request.body()
    deployments.authenticate(state.deployments, request.headers, body)
    try:
        deployment = DeploymentIn.model_validate(strict_json.loads(body.decode()))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(_why(exc)) from exc
    if deployments.find_repo(state.config, deployment.repo) is None:
        names = ", ".join(sorted(state.config.repos)) or "none configured"
        raise InvalidInput(f"repo {deployment.repo!r} is not in healer.toml; expected one of: {names}")
    reviews = state.reviews
    if reviews is not None:
        contains, verification = reviews.contains, reviews.verification
    else:
        contains = deployments.workspace_contains(state.settings, state.store)
        verification = load_verification(state.config)
    actor = f"deploy:{deployment.environment}"
    outcome = await run_in_threadpool(
        deployments.record, state.store, state.config, verification, contains, deployment, actor=actor
    )
    if reviews is not None:
        reviews.wake()
    return outcome


def _why(exc: Exception) -> str:
    expected = "expected a JSON object {repo, sha, environment, status}"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"{where}: {first['msg']}; {expected} (sha: the full 40-hex commit, status: success, failure...)"
    return f"the body is not JSON ({type(exc).__name__}); {expected}"
