"""Who is looking: the dashboard's sessions, their CSRF tokens, and the flash message.

A visitor who has not signed in gets an anonymous cookie (signed, nothing stored) that carries
the CSRF secret for the sign-in form and, on an open dashboard (no API token, loopback bind),
for acting as "local". Signing in opens a session in the store (``dashboard_sessions``): the
cookie carries only a random session id, signed with a key derived from the API token (so every
replica accepts it, and changing the token ends every session). Signing out deletes the row, so
a copy of the cookie stops working at once; a session also ends after ``MAX_AGE``, when the
person's credentials in healer.toml change, and when ``healer people revoke`` ends them.

How a session's name was proven is kept with it: a person's own password or token
(``dashboard_session``: they may approve), the shared API token (``api_token``: they may act, not
approve), or nothing (``none``, an open dashboard: the name is what they typed).
Every form carries a CSRF token bound to the session; a request without both is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import Scope

from server.approvals.people import People, Person, Verification
from server.store import Store
from server.store.sessions import end_session, find_session, open_session

COOKIE = "healer_session"
FLASH_COOKIE = "healer_flash"
MAX_AGE = 12 * 3600
ANONYMOUS = "local"
#: Where the guard leaves the session it read, so the page does not read it again.
SCOPE_KEY = "healer_session"

#: How a signed-in session's name was proven (besides ``Verification.dashboard_session``).
SHARED_TOKEN = "api_token"  # noqa: S105 - a label on the session, not a secret
UNPROVEN = "none"

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
    #: The verified person, when the session was opened with their own password or token.
    person: Person | None = None
    #: The stored session's id (signed-in sessions only).
    session_id: str | None = None


class Sessions:
    def __init__(self, token: str | None, store: Store, people: People | None = None) -> None:
        self.token = token or None
        self.store = store
        self.people = people or People()
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

    def anonymous(self) -> tuple[Session, str]:
        """A session for someone not signed in, and its cookie; nothing is stored."""
        session = Session(name=ANONYMOUS, signed_in=False, nonce=secrets.token_urlsafe(16))
        return session, self._cookies.dumps(["a", session.nonce])

    def sign_in(self, name: str, *, person: Person | None = None, verified_by: str = UNPROVEN) -> str:
        """Open a stored session for ``name`` (proven as ``person``, or as ``verified_by`` says); returns its cookie."""
        session_id = secrets.token_urlsafe(32)
        open_session(
            self.store,
            session_id,
            name=person.login if person is not None else name,
            verified_by=person.verified_by.value if person is not None else verified_by,
            stamp=self.people.stamp(person.login) if person is not None else None,
            lifetime=timedelta(seconds=MAX_AGE),
        )
        return self._cookies.dumps(["s", session_id])

    def sign_out(self, session: Session) -> None:
        if session.session_id is not None:
            end_session(self.store, session.session_id)

    def read(self, cookie: str | None, *, anonymous: bool = False) -> Session | None:
        """The cookie's session; with a token set, only a signed-in one unless ``anonymous``."""
        if not cookie:
            return None
        try:
            kind, value = self._cookies.loads(cookie, max_age=MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        if kind == "s":
            return self._stored(str(value))
        if kind != "a" or (self.required and not anonymous):
            return None
        return Session(name=ANONYMOUS, signed_in=False, nonce=str(value))

    def _stored(self, session_id: str) -> Session | None:
        stored = find_session(self.store, session_id)
        if stored is None:
            return None
        person = None
        if stored.verified_by == Verification.dashboard_session.value:
            stamp = self.people.stamp(stored.name)
            if stamp is None or stored.stamp is None or not hmac.compare_digest(stamp, stored.stamp):
                return None  # no longer a person here, or their credentials changed since
            person = self.people.person(stored.name, Verification.dashboard_session)
        elif self.required and stored.verified_by != SHARED_TOKEN:
            return None  # opened on an open dashboard; this one wants a token now
        return Session(name=stored.name, signed_in=True, nonce=session_id, person=person, session_id=session_id)

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
        """For the bearer-token guard: a page request carrying a signed-in session (left in the scope)."""
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
                session = self.read(morsel.value) if morsel is not None else None
                if session is not None:
                    scope.setdefault("state", {})[SCOPE_KEY] = session
                    return True
        return False
