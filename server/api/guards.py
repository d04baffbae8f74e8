"""ASGI guards in front of every route: a body size limit and the bearer token."""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Collection
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Paths anyone may read: liveness and readiness for load balancers, the API's own description,
#: the dashboard's sign-in page and its static files.
OPEN_PATHS = frozenset(
    {"/health", "/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/login"}
) | {
    "/docs/swagger-ui-bundle.js",  # /docs' own assets (server/api/docs_page.py)
    "/docs/swagger-ui.css",
    "/docs/favicon-32x32.png",
}
OPEN_PREFIXES = ("/static/",)
#: How an agent run's token starts (server.agents.tokens.PREFIX).
RUN_TOKEN_PREFIX = b"hrt_"


async def _answer(
    send: Send, status: int, kind: str, message: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + (headers or []),
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for bodies over ``limit`` bytes, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (
            f"the body is larger than the {self.limit} bytes this server accepts; "
            "send a shorter log excerpt (the end of a log is the useful part) or raise HEALER_MAX_BODY_BYTES"
        )
        announced = chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _answer(send, 400, "InvalidInput", "Content-Length is not a number")
                    return
                if length > self.limit:
                    await _answer(send, 413, "BodyTooLarge", message)
                    return
                announced = True
            elif name == b"transfer-encoding":
                chunked = True
        if announced and not chunked:
            # The server reads exactly the announced length as the body (what follows it is the next
            # request), so a body announced within the limit stays within it: nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            item = await receive()
            if item["type"] == "http.request":
                received += len(item.get("body", b""))
                if received > self.limit and not refused:
                    # Answer 413 now; the app then sees a disconnected client and its own answer is dropped.
                    refused = True
                    if not started:
                        await _answer(send, 413, "BodyTooLarge", message)
                    return {"type": "http.disconnect"}
            return item

        async def guarded_send(item: Message) -> None:
            nonlocal started
            if refused:
                return
            if item["type"] == "http.response.start":
                started = True
            await send(item)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise


class BearerToken:
    """Every request but the open paths must carry ``Authorization: Bearer <token>``.

    ``self_authenticated`` names the paths whose senders cannot send our token but prove who they
    are their own way: GitHub's signed webhooks, and monitor sources configured with a secret.
    ``session`` lets the dashboard's pages in on a signed-in session cookie instead (it checks the
    path and the cookie); a browser asking for a page without one is sent to ``/login``.
    ``person`` accepts a configured person's own token as well (``[people.<login>]``).
    ``run_token_paths`` are where an agent run's token goes on to the run gate behind (server.agents.gate);
    anywhere else a run token is refused with 403.
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str,
        self_authenticated: Collection[str] = (),
        session: Callable[[Scope], bool] | None = None,
        is_page: Callable[[str], bool] | None = None,
        person: Callable[[str], bool] | None = None,
        run_token_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.run_token_paths = frozenset(run_token_paths)
        self.token = token.encode()
        self.self_authenticated = frozenset(self_authenticated)
        self.session = session
        self.is_page = is_page
        self.person = person

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in OPEN_PATHS
            or path.startswith(OPEN_PREFIXES)
            or path in self.self_authenticated
        ):
            await self.app(scope, receive, send)
            return
        has_cookie = any(name == b"cookie" for name, _ in scope["headers"])
        # The session lives in the store: look it up off the event loop.
        if (
            self.session is not None
            and self.is_page is not None
            and self.is_page(path)
            and has_cookie
            and await run_in_threadpool(self.session, scope)
        ):
            await self.app(scope, receive, send)
            return
        presented = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    presented = credential.strip()
                break
        if presented.startswith(RUN_TOKEN_PREFIX) and not hmac.compare_digest(presented, self.token):
            if path in self.run_token_paths:
                await self.app(scope, receive, send)  # the run gate behind checks it
                return
            await _refuse_run_token(send)
            return
        # Constant-time compare: how long the check takes must not reveal how much matched.
        if not presented or not (
            hmac.compare_digest(presented, self.token)
            or (self.person is not None and self.person(presented.decode("latin-1")))
        ):
            if self.is_page is not None and self.is_page(scope["path"]) and _wants_page(scope) and not presented:
                await _sign_in_first(send, scope)
                return
            await _answer(
                send,
                401,
                "Unauthorized",
                "missing or wrong bearer token; send `Authorization: Bearer <HEALER_API_TOKEN>`",
                headers=[(b"www-authenticate", b'Bearer realm="devops-healer"')],
            )
            return
        await self.app(scope, receive, send)


async def _refuse_run_token(send: Send) -> None:
    await _answer(
        send,
        403,
        "Forbidden",
        "an agent run's token is valid only at /mcp, for its own incident's tools while the run lasts; "
        "this route (the REST API, approvals, the dashboard) needs a person's token",
    )


class RunTokenFence:
    """Without an API token (loopback), the REST routes are open; a request that presents an agent run's
    token is still one from an agent, and is refused everywhere but ``run_token_paths``."""

    def __init__(self, app: ASGIApp, run_token_paths: Collection[str] = ()) -> None:
        self.app = app
        self.run_token_paths = frozenset(run_token_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "") not in self.run_token_paths:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    if value.partition(b" ")[2].strip().startswith(RUN_TOKEN_PREFIX):
                        await _refuse_run_token(send)
                        return
                    break
        await self.app(scope, receive, send)


async def _sign_in_first(send: Send, scope: Scope) -> None:
    """A page asked for without a session: 303 to the sign-in page, coming back here after."""
    target = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
    location = "/login?next=" + quote(target, safe="")
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _wants_page(scope: Scope) -> bool:
    if scope["method"] != "GET":
        return False
    return any(name == b"accept" and b"text/html" in value for name, value in scope["headers"])
