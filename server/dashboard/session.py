"""Who is looking: the dashboard's signed session cookie, its CSRF tokens, and the flash message.

Open (no API token, loopback bind): anyone on this machine may look and act; a session still
carries the person's name and the CSRF secret. With a token: a person signs in with it once and
gets a session cookie (HttpOnly, SameSite=Strict, signed with a key derived from the token, so
every replica accepts it and changing the token ends every session). Every form carries a CSRF
token bound to the session; a request without both is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import Scope

COOKIE = "healer_session"
FLASH_COOKIE = "healer_flash"
MAX_AGE = 12 * 3600
ANONYMOUS = "local"

#: Paths a session cookie opens when a token is required (everything else needs the bearer token).
PAGE_PREFIXES = ("/ui/",)
PAGE_PATHS = frozenset({"/", "/events", "/logout"})
#: Paths anyone may reach: the sign-in page and the page's own files.
OPEN_PATHS = frozenset({"/login"})
OPEN_PREFIXES = ("/static/",)


def is_page(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(PAGE_PREFIXES)


@dataclass(frozen=True)
class Session:
    name: str
    signed_in: bool
    nonce: str


class Sessions:
    def __init__(self, token: str | None) -> None:
        self.token = token or None
        key = (
            hashlib.sha256(b"devops-healer session\0" + self.token.encode()).digest()
            if self.token
            else secrets.token_bytes(32)
        )
        self._key = key
        self._cookies = URLSafeTimedSerializer(key, salt="healer-session")
        self._flash = URLSafeTimedSerializer(key, salt="healer-flash")

    @property
    def required(self) -> bool:
        """A token is set: pages need a signed-in session."""
        return self.token is not None

    def check_token(self, presented: str) -> bool:
        # Constant-time compare: how long the check takes must not reveal how much matched.
        return self.token is not None and hmac.compare_digest(presented.encode(), self.token.encode())

    def new(self, name: str = ANONYMOUS, *, signed_in: bool = False) -> tuple[Session, str]:
        session = Session(name=name, signed_in=signed_in, nonce=secrets.token_urlsafe(16))
        return session, self._cookies.dumps([session.name, session.signed_in, session.nonce])

    def read(self, cookie: str | None, *, anonymous: bool = False) -> Session | None:
        """The cookie's session; with a token set, only a signed-in one unless ``anonymous``."""
        if not cookie:
            return None
        try:
            name, signed_in, nonce = self._cookies.loads(cookie, max_age=MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        session = Session(name=str(name), signed_in=bool(signed_in), nonce=str(nonce))
        if self.required and not session.signed_in and not anonymous:
            return None
        return session

    def csrf(self, session: Session) -> str:
        return hmac.new(self._key, f"csrf\0{session.nonce}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: Session | None, presented: str) -> bool:
        return session is not None and bool(presented) and hmac.compare_digest(self.csrf(session), presented)

    def flash(self, message: str, kind: str) -> str:
        return self._flash.dumps([kind, message[:500]])

    def read_flash(self, cookie: str | None) -> tuple[str, str] | None:
        if not cookie:
            return None
        try:
            kind, message = self._flash.loads(cookie, max_age=120)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(kind), str(message)

    def accepts(self, scope: Scope) -> bool:
        """For the bearer-token guard: a page request carrying a signed-in session."""
        if not is_page(scope["path"]):
            return False
        for name, value in scope["headers"]:
            if name == b"cookie":
                jar: SimpleCookie = SimpleCookie()
                try:
                    jar.load(value.decode("latin-1"))
                except CookieError:
                    continue  # a malformed Cookie header carries no session
                morsel = jar.get(COOKIE)
                if morsel is not None and self.read(morsel.value) is not None:
                    return True
        return False
