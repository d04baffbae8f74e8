"""GitHubForge: pull requests on GitHub (or GitHub Enterprise) through PyGithub.

Credentials are a token or a GitHub App installation (its token refreshed before it expires).
Pushes get the token through git's environment (``http.extraHeader``), never through a URL,
argv or ``.git/config``. Every API call is retried on 5xx, primary and secondary rate limits
(honouring ``Retry-After`` and ``X-RateLimit-Reset``) with the waiting injectable; PyGithub's own
retries are off, because they skip PATCH and surface exhausted retries as a different exception.
Errors become the fixer's tree, with any token text scrubbed.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable
from functools import cached_property
from typing import TypeVar

import requests
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest as GhPullRequest
from github.Repository import Repository

from fixer import gitcmd
from fixer.errors import ForgeAuthError, ForgeError, ForgeRateLimited
from fixer.forge import MARKER_PREFIX, PullRequest, PullRequestDraft, marker

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]

MAX_WAIT_SECONDS = 900.0


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
        attempts: int = 5,
        seconds_between_writes: float = 1.0,
        timeout: int = 30,
        rng: random.Random | None = None,
    ) -> None:
        if repo.count("/") != 1 or repo.startswith(("-", "/")):
            raise ForgeError(f"github_repo must be owner/name, got {repo!r}")
        self.repo_name = repo
        self.auth = auth
        self.sleep = sleep
        self.attempts = attempts
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter
        self.github = Github(
            auth=auth, base_url=base_url, retry=None, timeout=timeout, seconds_between_writes=seconds_between_writes
        )

    # -- credentials -----------------------------------------------------------------------------

    def _token(self) -> str:
        token = getattr(self.auth, "token", None)
        if not isinstance(token, str) or not token:
            raise ForgeAuthError("the GitHub credentials give no token to push with")
        return token

    def _secrets(self) -> list[str]:
        try:
            return [self._token()]
        except ForgeError:
            return []

    def remote_url(self) -> str:
        url: str = self._call("read the repository", lambda: self.repository.clone_url)
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

    def _wait_for(self, exc: GithubException, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when retrying cannot help."""
        status = exc.status
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        message = str(exc.data.get("message", "")) if isinstance(exc.data, dict) else ""
        if status in (403, 429) and (
            "retry-after" in headers or "rate limit" in message.lower() or headers.get("x-ratelimit-remaining") == "0"
        ):
            if "retry-after" in headers:
                return float(headers["retry-after"])
            if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
                return max(0.0, float(headers["x-ratelimit-reset"]) - time.time()) + 1
            return 60.0  # a secondary limit without Retry-After: GitHub asks for at least a minute
        if status >= 500:
            return min(60.0, self.rng.uniform(0, 2**attempt))
        return None

    def _call(self, what: str, action: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except GithubException as exc:
                if exc.status == 401:
                    raise ForgeAuthError(
                        self._scrub(f"GitHub refused the credentials while trying to {what}")
                    ) from None
                wait = self._wait_for(exc, attempt)
                if wait is None or attempt == self.attempts:
                    if exc.status in (403, 429) and wait is not None:
                        raise ForgeRateLimited(self._scrub(f"GitHub rate-limited {what}"), retry_after=wait) from None
                    raise ForgeError(self._scrub(f"GitHub answered {exc.status} to {what}: {_message(exc)}")) from None
                if wait > MAX_WAIT_SECONDS:
                    raise ForgeRateLimited(self._scrub(f"GitHub rate-limited {what}"), retry_after=wait) from None
                log.info("GitHub answered %s to %s; retrying in %.1fs", exc.status, what, wait)
                self.sleep(wait)
            except requests.RequestException as exc:
                if attempt == self.attempts:
                    raise ForgeError(self._scrub(f"could not reach GitHub to {what}: {type(exc).__name__}")) from None
                self.sleep(min(30.0, self.rng.uniform(0, 2**attempt)))
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
        incident = None
        if MARKER_PREFIX in body:
            incident = body.split(MARKER_PREFIX, 1)[1].split(" ", 1)[0]
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
        try:
            pr = self._call(
                "open the pull request",
                lambda: self.repository.create_pull(
                    base=draft.base, head=draft.head, title=draft.title, body=draft.body, draft=draft.draft
                ),
            )
        except ForgeError as exc:
            if "422" in exc.message:
                existing = self.find_open(draft.incident_id, draft.head)
                if existing is not None:
                    return existing  # "A pull request already exists": that is the one to update
            raise
        if draft.labels:
            self._call("label the pull request", lambda: pr.add_to_labels(*draft.labels))
        return self._model(self._call("read the pull request", lambda: self.repository.get_pull(pr.number)))

    def update(self, number: int, *, title: str, body: str, draft: bool) -> PullRequest:
        pr = self._call("read the pull request", lambda: self.repository.get_pull(number))
        # The REST API cannot turn a draft into ready or back; the draft state stays as GitHub has it.
        self._call("update the pull request", lambda: pr.edit(title=title, body=body))
        return self._model(self._call("read the pull request", lambda: self.repository.get_pull(number)))

    def comment(self, number: int, body: str) -> None:
        pr = self._call("read the pull request", lambda: self.repository.get_pull(number))
        self._call("comment on the pull request", lambda: pr.create_issue_comment(body))

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


def github_forge(repo: str, settings: object) -> GitHubForge:
    """The forge for a repository with ``forge = "github"``, from the process settings."""
    token = getattr(settings, "github_token", None)
    app_id = getattr(settings, "github_app_id", None)
    base_url = str(getattr(settings, "github_url", "https://api.github.com"))
    if app_id:
        key = getattr(settings, "github_app_private_key", None)
        installation = getattr(settings, "github_app_installation_id", None)
        if key is None or installation is None:
            raise ForgeAuthError(
                "GitHub App auth needs HEALER_GITHUB_APP_ID, HEALER_GITHUB_APP_PRIVATE_KEY and "
                "HEALER_GITHUB_APP_INSTALLATION_ID"
            )
        return GitHubForge(repo, app_auth(app_id, key.get_secret_value(), int(installation)), base_url=base_url)
    if token is None:
        raise ForgeAuthError("forge = 'github' needs GITHUB_TOKEN (or HEALER_GITHUB_TOKEN) or GitHub App settings")
    return GitHubForge(repo, token_auth(token.get_secret_value()), base_url=base_url)
