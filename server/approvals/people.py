"""People: the identities healer.toml configures, and how each proves who they are.

    [people.ana]
    token_sha256 = "9f86d0..."                  # SHA-256 (hex) of ana's person token
    password_hash = "scrypt$16384$8$1$...$..."  # optional: for the dashboard's sign-in form
    groups = ["sre"]                            # optional: approver groups ([routing.approval] groups)

Only a person verified here may approve or deny: the shared API token and agents may ask for an
approval, never give one. ``healer people add LOGIN`` prints a fresh token once and the lines to
paste. Tokens are random and long, so their plain SHA-256 is safe to keep in a shared file;
passwords are not, so they are kept as a salted scrypt hash. Every check compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.config import HealerConfig
from server.errors import ConfigError

LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
#: scrypt's cost: 16 MiB of memory and about 50 ms a check, per OWASP's password storage guidance.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_PASSWORD_HASH = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_=-]+)\$([A-Za-z0-9_=-]+)$")


class Verification(StrEnum):
    """How the server knows who gave an answer; kept on the timeline next to the name."""

    token = "token"  # noqa: S105 - Authorization: Bearer <person token> on the REST API
    dashboard_session = "dashboard_session"  # signed in to the dashboard with their own password or token
    cli_token = "cli_token"  # noqa: S105 - `healer approve --as LOGIN` with the person's token


class Person(BaseModel):
    """Someone the server verified just now, and how."""

    model_config = ConfigDict(frozen=True)

    login: str
    verified_by: Verification
    groups: tuple[str, ...] = ()


class PersonConfig(BaseModel):
    """One ``[people.<login>]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 (64 lowercase hex digits) of the person token."
    )
    password_hash: str | None = Field(
        default=None, description="scrypt$N$r$p$salt$hash, as `healer people add LOGIN --password` prints it."
    )
    groups: tuple[str, ...] = Field(default=(), description="Approver groups this person is in.")

    @model_validator(mode="after")
    def _some_credential(self) -> PersonConfig:
        if self.token_sha256 is None and self.password_hash is None:
            raise ValueError("expected token_sha256 or password_hash (run `healer people add LOGIN` to make them)")
        if self.password_hash is not None and not _PASSWORD_HASH.match(self.password_hash):
            raise ValueError("password_hash: expected scrypt$N$r$p$salt$hash as `healer people add` prints it")
        return self


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "hp_" + secrets.token_urlsafe(32)


def password_hash(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encode = base64.urlsafe_b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(derived).decode()}"


def _password_matches(password: str, stored: str) -> bool:
    found = _PASSWORD_HASH.match(stored)
    if found is None:
        return False
    n, r, p = (int(found.group(i)) for i in (1, 2, 3))
    salt, expected = (base64.urlsafe_b64decode(found.group(i)) for i in (4, 5))
    try:
        derived = hashlib.scrypt(
            password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * n * r + 2**20
        )
    except ValueError:  # parameters scrypt refuses: never a match
        return False
    return hmac.compare_digest(derived, expected)


class People:
    """The configured people; finds who a token or a password belongs to."""

    def __init__(self, people: dict[str, PersonConfig] | None = None) -> None:
        self.people = dict(people or {})
        self._by_fold = {login.casefold(): login for login in self.people}

    def __bool__(self) -> bool:
        return bool(self.people)

    def login_of(self, name: str) -> str | None:
        """The configured spelling of ``name`` (logins are case-insensitive), or None."""
        return self._by_fold.get(name.strip().casefold())

    def by_token(self, token: str) -> Person | None:
        """Whose person token this is (as a REST caller), or None."""
        if not token:
            return None
        presented = token_hash(token)
        found: str | None = None
        for login, person in self.people.items():  # every hash is compared: the time says nothing of who
            if person.token_sha256 is not None and hmac.compare_digest(presented, person.token_sha256):
                found = login
        return None if found is None else self._person(found, Verification.token)

    def sign_in(self, name: str, secret: str) -> Person | None:
        """``name`` proven by their password or their person token, as the dashboard's form sends them."""
        login = self.login_of(name)
        if login is None or not secret:
            return None
        config = self.people[login]
        token_ok = config.token_sha256 is not None and hmac.compare_digest(token_hash(secret), config.token_sha256)
        password_ok = config.password_hash is not None and _password_matches(secret, config.password_hash)
        return self._person(login, Verification.dashboard_session) if token_ok or password_ok else None

    def stamp(self, login: str) -> str | None:
        """A digest of the person's credentials: a session made under other credentials is no longer theirs."""
        config = self.people.get(login)
        if config is None:
            return None
        return hashlib.sha256(f"{config.token_sha256}\0{config.password_hash}".encode()).hexdigest()

    def person(self, login: str, verified_by: Verification) -> Person:
        return self._person(login, verified_by)

    def _person(self, login: str, verified_by: Verification) -> Person:
        return Person(login=login, verified_by=verified_by, groups=self.people[login].groups)


def load_people(config: HealerConfig) -> People:
    """``[people.*]`` from healer.toml; a wrong table stops start-up naming the key."""
    raw: Any = (config.model_extra or {}).get("people", {})
    source = str(config.source_file) if config.source_file else "healer.toml"
    if not isinstance(raw, dict):
        raise ConfigError("expected a table of [people.<login>] tables", file=source, key="people")
    people: dict[str, PersonConfig] = {}
    for login, table in raw.items():
        if not LOGIN.match(str(login)):
            raise ConfigError(
                "expected a login of letters, digits, '.', '_', '@' or '-' (at most 64)",
                file=source,
                key=f"people.{login}",
            )
        try:
            people[str(login)] = PersonConfig.model_validate(table)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(["people", str(login), *(str(part) for part in first["loc"])])
            raise ConfigError(str(first["msg"]).removeprefix("Value error, "), file=source, key=where) from exc
    folded = [login.casefold() for login in people]
    if len(set(folded)) != len(folded):
        raise ConfigError("two logins differ only in case; logins are case-insensitive", file=source, key="people")
    return People(people)
