"""What a web page cannot make the API do: the Host allow-list, same-origin writes, JSON-only bodies.

One ASGI guard in front of every route, ``/mcp`` included, so a page the operator happens to
have open cannot drive a default (loopback, token-less) install:

- ``Host`` must be a name this server answers to (loopback names, the bound address,
  ``HEALER_ALLOWED_HOSTS``): a DNS-rebound page sends its own name and gets 421.
- A request carrying an ``Origin`` that is not the server's own gets 403, whatever its method; a
  write (POST/PUT/PATCH/DELETE) that a browser marks ``Sec-Fetch-Site: cross-site`` gets 403 too.
- A write with a body must say ``application/json`` (or ``application/*+json``); the dashboard's
  forms, ``/github/webhook`` (GitHub's form encoding) and the ``/alerts/*`` sources that post
  ``text/plain`` (SNS) are the named exceptions. Anything else is 415 before the body is read.

Answers use the API's error shape. The checks read the raw header list once: no allocation
beyond the decoded values they compare.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from server.api.guards import _answer

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 - comparing, not binding
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Load-balancer probes send the pod's own address as Host; these answer nothing a token would hide.
PROBE_PATHS = frozenset({"/health", "/healthz", "/readyz"})
JSON_TYPES = frozenset({"application/json"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
#: The dashboard's HTML forms: same-origin posts, form-encoded.
FORM_PATHS = ("/login", "/logout", "/ui/")


def _name_of(authority: str) -> str:
    """``host:port`` -> ``host``; ``[::1]:8080`` -> ``[::1]``; a name without a port is itself."""
    if authority.startswith("["):
        return authority[: authority.find("]") + 1] or authority
    return authority.partition(":")[0]


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class HostRule:
    """The ``Host`` values this server answers to, and which ``Origin`` values are its own."""

    def __init__(self, bind_host: str, configured: Iterable[str] = ()) -> None:
        names = set(LOOPBACK_NAMES)  # with any port or none
        bind = _bracketed(bind_host.strip().lower())
        if bind not in _WILDCARD_BINDS:
            names.add(bind)
        exact: set[str] = set()
        proxied: set[str] = set()  # configured names: a reverse proxy may rewrite Host but not Origin
        for raw in configured:
            entry = raw.strip().lower()
            name = _name_of(entry)
            if entry == name or entry.endswith(":*"):
                names.add(name)
                proxied.add(name)
            else:
                exact.add(entry)
        self.names = frozenset(names)
        self.exact = frozenset(exact)
        self.proxied = frozenset(proxied)

    def allows(self, host: str) -> bool:
        return host in self.exact or _name_of(host) in self.names

    def own_origin(self, origin: str, host: str) -> bool:
        """``origin`` is this server's: it names the Host the browser asked, or a configured name."""
        scheme, separator, authority = origin.partition("://")
        if not separator or scheme not in ("http", "https") or "/" in authority:
            return False  # "null", or not an origin at all
        return authority == host or authority in self.exact or _name_of(authority) in self.proxied


class BrowserGuard:
    """421 for a foreign Host, 403 for a foreign Origin or a cross-site write, 415 for a non-JSON write.

    ``body_types`` names, per path, the content types accepted besides JSON (for example
    ``text/plain`` for an SNS-fed ``/alerts/<name>``).
    """

    def __init__(self, app: ASGIApp, hosts: HostRule, body_types: Mapping[str, Collection[str]] | None = None) -> None:
        self.app = app
        self.hosts = hosts
        self.body_types = {path: frozenset(types) for path, types in (body_types or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = origin = site = content_type = ""
        has_body = False
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
            elif name == b"origin":
                origin = value.decode("latin-1").lower()
            elif name == b"sec-fetch-site":
                site = value.decode("latin-1").lower()
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                has_body = has_body or value.strip() not in (b"0", b"")
            elif name == b"transfer-encoding":
                has_body = True
        method = scope["method"]
        path = scope["path"]
        if not self.hosts.allows(host) and not (path in PROBE_PATHS and method in ("GET", "HEAD")):
            await _answer(
                send,
                421,
                "MisdirectedRequest",
                f"Host {host!r} is not a name this server answers to (a guard against DNS rebinding); "
                "add it to HEALER_ALLOWED_HOSTS if clients reach the server by that name",
            )
            return
        if origin and not self.hosts.own_origin(origin, host):
            await _answer(
                send,
                403,
                "CrossOriginRefused",
                f"Origin {origin!r} is not this server's own: web pages on other origins cannot call this API; "
                "if a reverse proxy serves it under that name, add the name to HEALER_ALLOWED_HOSTS",
            )
            return
        if method not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        if site == "cross-site":
            await _answer(
                send,
                403,
                "CrossOriginRefused",
                "a cross-site browser request (Sec-Fetch-Site: cross-site) cannot change anything here",
            )
            return
        if content_type or has_body:
            problem = self._content_type_problem(path, content_type)
            if problem:
                await _answer(send, 415, "UnsupportedMediaType", problem)
                return
        await self.app(scope, receive, send)

    def _content_type_problem(self, path: str, content_type: str) -> str | None:
        media = content_type.partition(";")[0].strip().lower()
        if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
            return None
        if path.startswith(FORM_PATHS) and media in FORM_TYPES:
            return None
        extra = self.body_types.get(path)
        if extra is not None and media in extra:
            return None
        shown = repr(content_type) if content_type else "no Content-Type"
        return f"{shown} is not accepted on {path}; send the body as JSON with `Content-Type: application/json`"
