"""GitHubForge: pull requests on GitHub (or GitHub Enterprise) through PyGithub.

Credentials are a token or a GitHub App installation (its token refreshed before it expires).
Pushes get the token through git's environment (``http.extraHeader``), never through a URL,
argv or ``.git/config``. Every API call is paced (requests 0.25 s, writes 1 s apart) and retried
on 5xx, primary and secondary rate limits (honouring ``Retry-After`` and ``X-RateLimit-Reset``),
all waiting through an injected sleep and clock; PyGithub's own retries and pacing are off,
because its retries skip PATCH and raise a different exception when exhausted, and it sleeps
with ``time.sleep``. Errors become the fixer's tree, with any token text scrubbed. The draft state, which REST cannot
change, moves through GraphQL (``markPullRequestReadyForReview`` / ``convertPullRequestToDraft``).
"""

from __future__ import annotations

import base64
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest as GhPullRequest
from github.Repository import Repository
from pydantic import BaseModel, ConfigDict, SecretStr

from fixer import gitcmd
from fixer.errors import ForgeAuthError, ForgeError, ForgeRateLimited
from fixer.forge import MARKER_PREFIX, PullRequest, PullRequestDraft, marked_incident, marker

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]
Clock = Callable[[], float]

MAX_WAIT_SECONDS = 900.0
SECONDARY_LIMIT_SECONDS = 60.0  # GitHub asks for at least a minute when it gives no Retry-After
MAX_BACKOFF_SECONDS = 60.0


def token_auth(token: str) -> Auth.Auth:
    return Auth.Token(token)


def app_auth(app_id: int | str, private_key: str, installation_id: int) -> Auth.Auth:
    """GitHub App installation credentials; PyGithub refreshes the installation token before expiry."""
    return Auth.AppAuth(app_id, private_key).get_installation_auth(installation_id)


class GitHubForge:
    name = "github"

    def __init__(
        self,
        repo: str,
        auth: Auth.Auth,
        *,
        base_url: str = "https://api.github.com",
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        attempts: int = 5,
        seconds_between_requests: float = 0.25,
        seconds_between_writes: float = 1.0,
        timeout: int = 30,
        rng: random.Random | None = None,
    ) -> None:
        if repo.count("/") != 1 or repo.startswith(("-", "/")):
            raise ForgeError(f"github_repo must be owner/name, got {repo!r}")
        self.repo_name = repo
        self.auth = auth
        self.sleep = sleep
        self.clock = clock
        self._seen_tokens: set[str] = set()
        self.attempts = attempts
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter
        self.seconds_between_requests = seconds_between_requests
        self.seconds_between_writes = seconds_between_writes
        self._last_request = self._last_write = -math.inf
        # PyGithub's own retries and pacing are off: both sleep with time.sleep, and its retries skip
        # PATCH. ``_call`` does both with the injected sleep and clock.
        self.github = Github(
            auth=auth,
            base_url=base_url,
            retry=None,
            timeout=timeout,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )

    # -- credentials -----------------------------------------------------------------------------

    def _token(self) -> str:
        # An App installation asks GitHub for a new token here when the one it holds is near expiry.
        token = self._call("get a token for git", lambda: getattr(self.auth, "token", None))
        if not isinstance(token, str) or not token:
            raise ForgeAuthError("the GitHub credentials give no token to push with")
        self._seen_tokens.add(token)
        return token

    def _secrets(self) -> list[str]:
        """Every token this forge has held, read without asking GitHub for a new one."""
        found = set(self._seen_tokens)
        if isinstance(self.auth, Auth.Token):
            found.add(self.auth.token)
        # PyGithub keeps the installation token name-mangled; reading it here never asks for a new one.
        current = getattr(self.auth, "_AppInstallationAuth__installation_authorization", None)
        token = getattr(current, "token", None)
        if isinstance(token, str):
            found.add(token)
        return sorted(found, key=len, reverse=True)

    def remote_url(self) -> str:
        url: str = self._call("read the repository", lambda: self.repository.clone_url)
        parts = urllib.parse.urlsplit(url)
        if "@" in parts.netloc:  # never hand git a URL with credentials in it
            url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
        return url

    def git_auth_env(self) -> dict[str, str]:
        basic = base64.b64encode(f"x-access-token:{self._token()}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    # -- retries ---------------------------------------------------------------------------------

    def _rate_limit_wait(self, exc: GithubException) -> float | None:
        """Seconds GitHub asks us to wait when ``exc`` is a primary or secondary rate limit, else None."""
        if exc.status not in (403, 429):
            return None
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        retry_after = _seconds(headers.get("retry-after"))
        if retry_after is not None:
            return retry_after
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset"))
            return max(0.0, reset - self.clock()) + 1 if reset is not None else SECONDARY_LIMIT_SECONDS
        if exc.status == 429 or "rate limit" in _message(exc).lower():
            return SECONDARY_LIMIT_SECONDS
        return None

    def _backoff(self, attempt: int) -> float:
        return min(MAX_BACKOFF_SECONDS, self.rng.uniform(0, 2**attempt))

    def _pace(self, write: bool) -> None:
        """Space requests as GitHub asks integrators to (and writes further apart), to avoid secondary limits."""
        due = self._last_request + self.seconds_between_requests
        if write:
            due = max(due, self._last_write + self.seconds_between_writes)
        wait = due - self.clock()
        if wait > 0:
            self.sleep(wait)

    def _timed(self, action: Callable[[], T], write: bool) -> T:
        try:
            return action()
        finally:
            self._last_request = self.clock()
            if write:
                self._last_write = self._last_request

    def _call(self, what: str, action: Callable[[], T], *, write: bool = False) -> T:
        """``action`` with pacing and retries; every failure leaves as a ``ForgeError`` with tokens scrubbed."""
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            self._pace(write)
            try:
                return self._timed(action, write)
            except GithubException as exc:
                limited = self._rate_limit_wait(exc)
                if limited is not None:
                    if last or limited > MAX_WAIT_SECONDS:
                        raise ForgeRateLimited(
                            self._scrub(f"GitHub rate-limited the request to {what}; retry in {limited:.0f}s"),
                            retry_after=limited,
                        ) from None
                    wait = limited
                elif exc.status == 401:
                    raise ForgeAuthError(
                        self._scrub(f"GitHub refused the credentials while trying to {what}: {_message(exc)}")
                    ) from None
                elif exc.status == 403:
                    raise ForgeAuthError(self._scrub(f"GitHub denied permission to {what}: {_message(exc)}")) from None
                elif exc.status >= 500 and not last:
                    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
                    wait = _seconds(headers.get("retry-after")) or self._backoff(attempt)
                else:
                    tries = f" after {attempt} attempts" if exc.status >= 500 else ""
                    raise ForgeError(
                        self._scrub(f"GitHub answered {exc.status} to the request to {what}{tries}: {_message(exc)}")
                    ) from None
                log.info("GitHub answered %s to the request to %s; retrying in %.1fs", exc.status, what, wait)
                self.sleep(wait)
            except requests.RequestException as exc:
                # Connection failures and timeouts; a repeated POST that went through the first time
                # is caught by GitHub's own 422 "already exists" for pull requests.
                if last:
                    raise ForgeError(
                        self._scrub(f"could not reach GitHub to {what} after {attempt} attempts: {type(exc).__name__}")
                    ) from None
                wait = self._backoff(attempt)
                log.info("could not reach GitHub to %s (%s); retrying in %.1fs", what, type(exc).__name__, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _scrub(self, text: str) -> str:
        return gitcmd.scrub(text, self._secrets())

    # -- pull requests ---------------------------------------------------------------------------

    @cached_property
    def repository(self) -> Repository:
        return self._call("read the repository", lambda: self.github.get_repo(self.repo_name))

    def _owner(self) -> str:
        return self.repo_name.split("/", 1)[0]

    def _model(self, pr: GhPullRequest) -> PullRequest:
        body = pr.body or ""
        incident = marked_incident(body)
        state = "merged" if pr.merged else pr.state
        return PullRequest(
            number=pr.number,
            url=pr.html_url,
            title=pr.title,
            body=body,
            state=state,
            draft=bool(pr.draft),
            head=pr.head.ref,
            base=pr.base.ref,
            head_sha=pr.head.sha,
            labels=[label.name for label in pr.labels],
            incident_id=incident,
        )

    def find_open(self, incident_id: str, branch: str) -> PullRequest | None:
        def lookup() -> PullRequest | None:
            for pr in self.repository.get_pulls(state="open", head=f"{self._owner()}:{branch}"):
                return self._model(pr)
            tag = marker(incident_id)
            for pr in self.repository.get_pulls(state="open"):
                if tag in (pr.body or ""):
                    return self._model(pr)
            return None

        return self._call("find the incident's open pull request", lookup)

    def create(self, draft: PullRequestDraft) -> PullRequest:
        repository = self.repository  # read first, so the write below is paced on its own

        def open_pull() -> GhPullRequest | None:
            try:
                return repository.create_pull(
                    base=draft.base, head=draft.head, title=draft.title, body=draft.body, draft=draft.draft
                )
            except GithubException as exc:
                if exc.status == 422 and "already exists" in _message(exc).lower():
                    return None
                raise

        pr = self._call("open the pull request", open_pull, write=True)
        if pr is None:  # "A pull request already exists for owner:branch": that is the one to update
            existing = self.find_open(draft.incident_id, draft.head)
            if existing is None:
                raise ForgeError(f"GitHub says a pull request exists for {draft.head}, but none is open for it")
            return existing
        created = pr
        if draft.labels:
            self._call("label the pull request", lambda: created.add_to_labels(*draft.labels), write=True)
        return self._model(self._call("read the pull request", lambda: self.repository.get_pull(created.number)))

    def update(self, number: int, *, title: str, body: str, draft: bool) -> PullRequest:
        pr = self._call("read the pull request", lambda: self.repository.get_pull(number))
        if pr.title != title or (pr.body or "") != body:
            self._call("update the pull request", lambda: pr.edit(title=title, body=body), write=True)
        if bool(pr.draft) != draft:  # REST cannot change it; GraphQL can
            change = pr.convert_to_draft if draft else pr.mark_ready_for_review
            self._call("change the pull request's draft state", change, write=True)
        return self._model(self._call("read the pull request", lambda: self.repository.get_pull(number)))

    def comment(self, number: int, body: str) -> None:
        pr = self._call("read the pull request", lambda: self.repository.get_pull(number))
        self._call("comment on the pull request", lambda: pr.create_issue_comment(body), write=True)

    def acknowledge(self, number: int, comment_id: str) -> None:
        """React to a command comment, so whoever wrote it sees the bot took it."""

        def react() -> None:
            issue = self.repository.get_issue(number)
            issue.get_comment(int(comment_id)).create_reaction("+1")

        self._call("acknowledge the command", react)

    def can_write(self, login: str) -> bool:
        """Whether ``login`` has write access (write, maintain or admin) to the repository."""
        permission: str = self._call(
            "read the commenter's permission", lambda: self.repository.get_collaborator_permission(login)
        )
        return permission in ("admin", "maintain", "write")

    def count_open_bot_prs(self) -> int:
        def count() -> int:
            return sum(1 for pr in self.repository.get_pulls(state="open") if MARKER_PREFIX in (pr.body or ""))

        return self._call("count open pull requests", count)


def _message(exc: GithubException) -> str:
    if isinstance(exc.data, dict):
        text = str(exc.data.get("message", ""))
        errors = exc.data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
            text += f" ({errors[0]['message']})"
        return text
    return str(exc.data)[:200]


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class GitHubForgeSettings(BaseModel):
    """What the GitHub forge needs from the process settings: credentials, the API URL and pacing."""

    model_config = ConfigDict(frozen=True)

    token: SecretStr | None = None
    app_id: int | None = None
    app_private_key: SecretStr | None = None
    app_installation_id: int | None = None
    base_url: str = "https://api.github.com"
    seconds_between_requests: float = 0.25
    seconds_between_writes: float = 1.0


def github_forge(repo: str, settings: GitHubForgeSettings) -> GitHubForge:
    """The forge for a repository with ``forge = "github"``: App credentials when an App id is set, else the token."""
    if settings.app_id:
        key, installation = settings.app_private_key, settings.app_installation_id
        if key is None or installation is None:
            raise ForgeAuthError(
                "GitHub App auth needs HEALER_GITHUB_APP_ID, HEALER_GITHUB_APP_PRIVATE_KEY and "
                "HEALER_GITHUB_APP_INSTALLATION_ID"
            )
        auth = app_auth(settings.app_id, key.get_secret_value(), installation)
    elif settings.token is None:
        raise ForgeAuthError("forge = 'github' needs GITHUB_TOKEN (or HEALER_GITHUB_TOKEN) or GitHub App settings")
    else:
        auth = token_auth(settings.token.get_secret_value())
    return GitHubForge(
        repo,
        auth,
        base_url=settings.base_url,
        seconds_between_requests=settings.seconds_between_requests,
        seconds_between_writes=settings.seconds_between_writes,
    )
