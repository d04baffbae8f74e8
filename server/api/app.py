"""The FastAPI app factory: wires routers, guards and error handlers; no logic here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from server import __version__
from server.api import (
    alerts,
    approvals,
    dead_letters,
    deployments,
    docs_page,
    errors,
    events,
    fixes,
    github,
    health,
    incidents,
    metrics,
    openapi,
    retriage,
    reviews,
    rules,
    runs,
)
from server.api.browser import FORM_TYPES, BrowserGuard, HostRule
from server.api.guards import BearerToken, BodyLimit, RunTokenFence
from server.api.state import AppState
from server.approvals.people import load_people
from server.dashboard import pages
from server.dashboard import runs as dashboard_runs
from server.dashboard.session import Sessions, is_page

ROUTERS = [
    health.router,
    incidents.router,
    retriage.router,
    alerts.router,
    github.router,
    deployments.router,
    reviews.router,
    fixes.router,
    approvals.router,
    dead_letters.router,
    rules.router,
    runs.router,
    events.router,
    metrics.router,
    pages.router,
    dashboard_runs.router,
]


def create_app(
    state: AppState,
    *,
    extra_lifespans: Sequence[Callable[[], AbstractAsyncContextManager[None]]] = (),
    host: str = "127.0.0.1",
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            for enter in extra_lifespans:
                await stack.enter_async_context(enter())
            yield
        state.store.close()

    app = FastAPI(
        title="devops-healer",
        version=__version__,
        description="Production incidents in, reviewed pull requests out.",
        lifespan=lifespan,
        docs_url=None,  # served from the package instead of a CDN, below
    )
    docs_page.install(app, "devops-healer")
    app.state.healer = state
    for router in ROUTERS:
        app.include_router(router)
    errors.install(app)
    token = state.settings.api_token
    guarded = token is not None and bool(token.get_secret_value())
    openapi.install(app, guarded=guarded, self_authenticated=_self_authenticated(state))
    state.people = load_people(state.config)
    app.state.sessions = sessions = Sessions(
        token.get_secret_value() if token is not None else None, state.store, state.people
    )
    if token is not None and guarded:
        app.add_middleware(
            BearerToken,
            token=token.get_secret_value(),
            self_authenticated=_self_authenticated(state),
            session=sessions.accepts,
            is_page=is_page,
            run_token_paths=("/mcp",),
            person=lambda presented: state.people.by_token(presented) is not None,
        )
    else:
        app.add_middleware(RunTokenFence, run_token_paths=("/mcp",))
    # Added last, so it runs first: an oversize body is refused before anything reads it.
    app.add_middleware(BodyLimit, limit=state.settings.max_body_bytes)
    # Before the token: a web page's request is refused whether or not it could guess a credential.
    app.add_middleware(
        BrowserGuard, hosts=HostRule(host, state.settings.allowed_hosts), body_types=_other_body_types(state)
    )
    metrics.install(app, state)  # outermost: every request gets an id, a log context and a timing
    return app


def _self_authenticated(state: AppState) -> list[str]:
    """Paths that check their sender themselves: the signed GitHub webhook, and sources with a secret."""
    paths = ["/github/webhook", *(["/deployments"] if state.deployments is not None else [])]
    if state.alerts is not None:
        paths += [f"/alerts/{name}" for name, config in state.alerts.intake.sources.items() if config.verification()]
    return paths


def _other_body_types(state: AppState) -> dict[str, frozenset[str]]:
    """Content types besides JSON that senders which are not browsers document for their deliveries."""
    types = {"/github/webhook": FORM_TYPES}  # GitHub's "application/x-www-form-urlencoded" setting
    if state.alerts is not None:
        for name, config in state.alerts.intake.sources.items():
            if config.type == "cloudwatch":  # SNS posts its envelope as text/plain; charset=UTF-8
                types[f"/alerts/{name}"] = frozenset({"text/plain"})
    return types
