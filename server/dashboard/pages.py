"""Routes of the dashboard: the incident list, an incident's page, the overview, sign-in, and the actions.

Pages are plain HTML from Jinja2 templates; every action is a form (POST, then 303 back to the
page), so all of it works without JavaScript. ``static/dashboard.js`` only makes pages live.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from fixer.errors import FixerError
from server import __version__
from server.api.errors import status_of
from server.api.state import AppState
from server.dashboard import detail, markdown, overview, pull_view
from server.dashboard.actions import HINTS, LABELS, REASON_LABELS, Action, check_name, perform
from server.dashboard.listing import PAGE_SIZES, SORT_LABELS, ListQuery, Sort, list_page, services
from server.dashboard.session import COOKIE, FLASH_COOKIE, MAX_AGE, SCOPE_KEY, SHARED_TOKEN, Session, Sessions
from server.errors import HealerError, SignInRefused
from server.models import Severity, Status
from server.observe.feed import newest_id
from server.observe.stages import STAGES, STATUS_LABELS, Stage, describe

HERE = Path(__file__).parent
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))


def ago(moment: datetime, now: datetime | None = None) -> str:
    """'3 min ago': how long ago, in the largest whole unit."""
    seconds = max(0, int(((now or datetime.now(UTC)) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


templates.env.filters.update(ago=ago, utc=utc, iso=iso, span=span, markdown=markdown.render)
templates.env.globals.update(
    describe=describe,
    STAGES=STAGES,
    STATUS_LABELS=STATUS_LABELS,
    version=__version__,
)


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.healer
    return state


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _secure(request: Request) -> bool:
    """Cookies only over HTTPS when people reach the server over HTTPS (directly or behind a proxy)."""
    public = _state(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _session(request: Request) -> tuple[Session, str | None]:
    """The request's session, or a new anonymous one with the cookie to set (an open dashboard, the sign-in page)."""
    sessions = _sessions(request)
    session = _read(request, anonymous=True)
    if session is not None:
        return session, None
    return sessions.anonymous()


def _read(request: Request, *, anonymous: bool = False) -> Session | None:
    """The request's session: the one the guard already read, or the cookie's."""
    found: Session | None = request.scope.get("state", {}).get(SCOPE_KEY)
    if found is not None:
        return found
    return _sessions(request).read(request.cookies.get(COOKIE), anonymous=anonymous)


def _set_session(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        COOKIE, cookie, max_age=MAX_AGE, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


def _page(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> HTMLResponse:
    session, new_cookie = _session(request)
    sessions = _sessions(request)
    flash = sessions.read_flash(request.cookies.get(FLASH_COOKIE))
    response = templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "csrf": sessions.csrf(session),
            "sign_in_required": sessions.required,
            "flash": flash,
            "now": _state(request).store.clock.now(),
            **context,
        },
        status_code=status_code,
    )
    if new_cookie is not None:
        _set_session(response, request, new_cookie)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    _harden(response)
    return response


def _harden(response: Response) -> None:
    response.headers["content-security-policy"] = CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["cache-control"] = "no-store"


def _back(request: Request, location: str, message: str, kind: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        FLASH_COOKIE,
        _sessions(request).flash(message, kind),
        max_age=120,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    return response


def _services(request: Request, connection: Any) -> list[str]:
    """The service filter's suggestions, read at most every 30 s: they need not be fresh to the second."""
    cached: tuple[float, list[str]] | None = getattr(request.app.state, "dashboard_services", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > 30:
        cached = (now, services(connection))
        request.app.state.dashboard_services = cached
    return cached[1]


@router.get("/", response_class=HTMLResponse)
def incident_list(request: Request) -> HTMLResponse:
    query = ListQuery.parse(request.query_params)
    store = _state(request).store
    with store.read() as connection:
        last_event = newest_id(connection)
        page = list_page(connection, query)
        known_services = _services(request, connection)
    live = query.sort == Sort.newest and not query.cursor and not query.q
    return _page(
        request,
        "list.html",
        {
            "query": query,
            "page": page,
            "services": known_services,
            "statuses": list(Status),
            "severities": list(Severity),
            "stages": list(Stage),
            "sorts": SORT_LABELS,
            "page_sizes": PAGE_SIZES,
            "last_event_id": last_event,
            "live_insert": live,
            "next_url": "/?" + urlencode(query.params(after=page.next_cursor)) if page.next_cursor else None,
            "first_url": "/?" + urlencode(query.params()) if query.cursor else None,
            "wanted_statuses": [s.value for s in query.wanted_statuses()],
        },
    )


@router.get("/ui/overview", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    store = _state(request).store
    with store.read() as connection:
        last_event = newest_id(connection)
        figures = overview.build(connection, store.clock.now())
    return _page(request, "overview.html", {"overview": figures, "last_event_id": last_event})


@router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: Annotated[str, PathParam(max_length=40)]) -> HTMLResponse:
    try:
        view = detail.load(_state(request).store, incident_id)
    except HealerError as exc:
        return _page(request, "missing.html", {"message": exc.message}, status_code=status_of(exc))
    return _page(
        request,
        "incident.html",
        {
            "view": view,
            "labels": LABELS,
            "hints": HINTS,
            "reason_labels": REASON_LABELS,
            "agent_runs": agent_runs_panel(_state(request), view.incident.id),
            # The feed starts after what the page shows, so its own changes are not news to it.
            "last_event_id": view.last_event_id,
        },
    )


def agent_runs_panel(state: AppState, incident_id: str) -> Any:
    from server.dashboard.runs import panel  # the agent runs section lives in its own module

    return panel(state, incident_id)


@router.get("/ui/pulls/{number}", response_class=HTMLResponse)
def pull_page(request: Request, number: Annotated[int, PathParam(ge=1, le=2**31 - 1)]) -> HTMLResponse:
    """A local forge's pull request (its URL is local://, which no browser opens): diff, verification, reviews."""
    try:
        view = pull_view.load(_state(request), number)
    except HealerError as exc:
        return _page(request, "missing.html", {"message": exc.message}, status_code=status_of(exc))
    except FixerError as exc:
        return _page(request, "missing.html", {"message": exc.message}, status_code=503)
    return _page(request, "pull.html", {"view": view})


@router.post("/ui/incidents/{incident_id}/actions")
def act(
    request: Request,
    incident_id: Annotated[str, PathParam(max_length=40)],
    action: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    sessions = _sessions(request)
    session = _read(request)
    if not sessions.check_csrf(session, csrf):
        return _refused(request)
    assert session is not None
    page = f"/ui/incidents/{incident_id}"
    try:
        chosen = Action(action)
    except ValueError:
        return _back(request, page, f"unknown action {action[:20]!r}", "error")
    state = _state(request)
    try:
        done = perform(
            state.store,
            state.config,
            state.settings,
            incident_id,
            chosen,
            person=session.name,
            verified=session.person,
            reason=reason,
        )
    except HealerError as exc:
        return _back(request, page, exc.message, "error")
    return _back(request, page, done, "ok")


def _refused(request: Request) -> HTMLResponse:
    return _page(
        request,
        "missing.html",
        {
            "message": "This form has expired or did not come from this dashboard (its CSRF token is missing or "
            "wrong). Reload the page and try again."
        },
        status_code=403,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _page(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)] = "",
    token: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    sessions = _sessions(request)
    current = _read(request) or _pre_session(request)
    target = _safe_next(next)
    if not sessions.check_csrf(current, csrf):
        return _refused(request)
    try:
        name = check_name(name)
        cookie = _sign_in(sessions, name, token)
    except HealerError as exc:
        return _page(request, "login.html", {"next": target, "error": exc.message}, status_code=status_of(exc))
    response = RedirectResponse(target, status_code=303)
    _set_session(response, request, cookie)
    return response


def _sign_in(sessions: Sessions, name: str, secret: str) -> str:
    """A new session's cookie for ``name`` proven by ``secret``; raises SignInRefused saying why not."""
    person = sessions.people.sign_in(name, secret)
    if person is not None:
        return sessions.sign_in(person.login, person=person)
    known = sessions.people.login_of(name)
    if secret and sessions.check_token(secret):
        if known is not None:
            raise SignInRefused(f"{known} is a configured person: sign in with your own password or token")
        return sessions.sign_in(name, verified_by=SHARED_TOKEN)
    if secret:
        raise SignInRefused(f"That is not the API token, nor a password or token of a person named {name}.")
    if sessions.required:
        raise SignInRefused("Enter your password or token (or the API token).")
    if known is not None:
        raise SignInRefused(f"{known} is a configured person: sign in with your own password or token")
    return sessions.sign_in(name)


def _pre_session(request: Request) -> Session | None:
    """The anonymous session the sign-in form was served with (a token dashboard has no other yet)."""
    sessions = _sessions(request)
    if not sessions.required:
        return None
    return sessions.read(request.cookies.get(COOKIE), anonymous=True)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    sessions = _sessions(request)
    session = _read(request)
    if not sessions.check_csrf(session, csrf):
        return _refused(request)
    assert session is not None
    sessions.sign_out(session)  # the stored session ends: a copy of the cookie opens nothing now
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only paths on this server: never an open redirect to another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/static/{name}")
def static(name: str) -> Response:
    kind = STATIC.get(name)
    if kind is None:
        return Response(status_code=404)
    return FileResponse(HERE / "static" / name, media_type=kind, headers={"cache-control": "max-age=300"})
