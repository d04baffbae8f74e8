"""Who is calling the REST API: a configured person (by their token), or the shared API token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from server.api.state import AppState, app_state
from server.approvals.people import Person
from server.errors import PersonRequired


def bearer(request: Request) -> str:
    """The credential of ``Authorization: Bearer <credential>``, or an empty string."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def caller_person(request: Request, state: AppState) -> Person | None:
    """The person whose token the request carries, or None (the shared token, an agent, nobody)."""
    return state.people.by_token(bearer(request))


async def verified_person(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Person:
    """The person answering; refuses the shared API token, an agent, and a request without a token."""
    presented = bearer(request)
    person = state.people.by_token(presented)
    if person is not None:
        return person
    token = state.settings.api_token
    shared = token.get_secret_value() if token is not None else ""
    if presented and shared and hmac.compare_digest(presented.encode(), shared.encode()):
        raise PersonRequired("the shared API token can ask for an approval but cannot give one")
    if presented:
        raise PersonRequired("this bearer token belongs to no person configured in [people.*]")
    raise PersonRequired("no person's token was sent (Authorization: Bearer <person token>)")
