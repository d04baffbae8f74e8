"""A small GitHub, over real HTTP, for the GitHub forge's tests.

It implements the REST subset devops-healer uses (at ``/`` as api.github.com does, and at
``/api/v3`` as GitHub Enterprise does), the GraphQL draft-state mutations, and git over smart HTTP
(``git http-backend``) from a bare repository per emulated repository. It checks credentials as
GitHub does (tokens, GitHub App JWTs and expiring installation tokens), can be told to fail (5xx,
primary and secondary rate limits, 429, 422), records what happened as webhook-shaped ``events``,
and validates every JSON body it sends against GitHub's official schemas, recording any mismatch
in ``violations`` (tests assert it stays empty).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.github_emulator import graphql, schemas
from tests.github_emulator.objects import Objects
from tests.github_emulator.people import People, undocumented
from tests.github_emulator.state import (
    BOT,
    AppInstallation,
    Clock,
    Comment,
    Event,
    Fault,
    Listener,
    PullRecord,
    Repo,
    Review,
    ReviewComment,
    SystemClock,
    stamp,
)

GHE_PREFIX = "/api/v3"
Handler = Callable[[Request, Repo | None], Awaitable[Response]]


class GitHubEmulator(People):
    def __init__(
        self,
        root: Path,
        *,
        owner: str = "acme",
        repo: str = "payments",
        token: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self.owner = owner
        self.repo = repo
        self.clock: Clock = clock or SystemClock()
        self.tokens: set[str] = {token or "ghp_" + secrets.token_hex(18)}
        self.repos: dict[str, Repo] = {}
        self.app: AppInstallation | None = None
        self.faults: dict[tuple[str, str], list[Fault]] = {}
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.scopes: str | None = "repo, workflow"  # X-OAuth-Scopes of a classic token; None: a fine-grained one
        self.events: list[Event] = []
        self.listeners: list[Listener] = []
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._people_init()

    # -- set up ----------------------------------------------------------------------------------

    def add_repo(self, owner: str, name: str, source: Path, *, default_branch: str = "main") -> Repo:
        """An emulated repository whose git history starts as a bare clone of ``source``."""
        bare = self.root / owner / f"{name}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(bare)], check=True)
        subprocess.run(["git", "-C", str(bare), "config", "http.receivepack", "true"], check=True)
        repo = Repo(owner, name, bare, default_branch)
        self.repos[repo.full_name] = repo
        return repo

    def seed(self, source: Path) -> Repo:
        """The default repository (``owner``/``repo`` given to the constructor), cloned from ``source``."""
        return self.add_repo(self.owner, self.repo, source)

    @property
    def default(self) -> Repo:
        return self.repos[f"{self.owner}/{self.repo}"]

    @property
    def bare(self) -> Path:
        return self.default.bare

    @property
    def pulls(self) -> dict[int, PullRecord]:
        return self.default.pulls

    @property
    def token(self) -> str:
        return next(iter(self.tokens))

    @property
    def enterprise_url(self) -> str:
        """The API base URL as GitHub Enterprise Server spells it."""
        return self.url + GHE_PREFIX

    def enable_app(self, app_id: int, public_key_pem: bytes, installation_id: int, token_ttl: timedelta) -> None:
        self.app = AppInstallation(app_id, public_key_pem, installation_id, token_ttl)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every event from now on (a webhook deliverer hooks in here)."""
        self.listeners.append(listener)

    def add_review(
        self, number: int, state: str, body: str = "", *, user: str = "ana", repo: str | None = None
    ) -> Review:
        target = self.repos[repo] if repo else self.default
        pr = target.pulls[number]
        review = Review(target.take_id(), state, body, user, target.sha(pr.head) or "", self._now())
        pr.reviews.append(review)
        return review

    def add_review_comment(
        self, number: int, body: str, path: str, line: int | None = None, *, user: str = "ana", repo: str | None = None
    ) -> ReviewComment:
        target = self.repos[repo] if repo else self.default
        pr = target.pulls[number]
        comment = ReviewComment(target.take_id(), body, path, line, user, target.sha(pr.head) or "", self._now())
        pr.review_comments.append(comment)
        return comment

    # -- faults ----------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        template: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """The next ``times`` requests to ``method template`` (a documented path) answer ``status``."""
        if schemas.find_template(method, template) is None:
            raise ValueError(f"{method} {template} is not an operation the emulator serves")
        queue = self.faults.setdefault((method, template), [])
        queue.extend(Fault(status, dict(headers or {}), body) for _ in range(times))

    def secondary_rate_limit(
        self, method: str, template: str, *, retry_after: int | None = None, times: int = 1
    ) -> None:
        """A 403 secondary rate limit, with or without ``Retry-After``, as GitHub sends it."""
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail_next(method, template, 403, times=times, headers=headers, body=_error_body(message))

    def primary_rate_limit(self, method: str, template: str, *, resets_in: int, status: int = 403) -> None:
        """The hourly limit spent: ``X-RateLimit-Remaining: 0`` and the reset as epoch seconds."""
        reset = int(self.clock.now().timestamp()) + resets_in
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
        self.fail_next(method, template, status, headers=headers, body=_error_body("API rate limit exceeded."))

    def too_many_requests(self, method: str, template: str, *, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self.fail_next(method, template, 429, headers=headers, body=_error_body("Too many requests"))

    def already_exists(self, head: str, *, owner: str | None = None) -> None:
        """The next pull request creation answers 422 "A pull request already exists for owner:head"."""
        self.fail_next("POST", "/repos/{owner}/{repo}/pulls", 422, body=_already_exists(owner or self.owner, head))

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the GitHub emulator did not start")
            time.sleep(0.01)  # waiting for a real server thread, not for time to pass in a test
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)

    # -- answering -------------------------------------------------------------------------------

    def _now(self) -> str:
        return stamp(self.clock.now())

    def _objects(self, request: Request) -> Objects:
        prefix = GHE_PREFIX if request.url.path.startswith(GHE_PREFIX + "/") else ""
        return Objects(self.url, self.url + prefix)

    def _send(self, request: Request, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        path = request.url.path.removeprefix(GHE_PREFIX)
        if schemas.operation(request.method, path) is None and undocumented(path):
            self.unvalidated.append(f"{request.method} {path} {status}")
        else:
            self.violations.extend(schemas.problems(request.method, path, status, body))
        self.requests.append((request.method, request.url.path, status))
        base = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(self.clock.now().timestamp()) + 3600),
            "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
        }
        if self.scopes is not None and self._authorized(request):
            base["X-OAuth-Scopes"] = self.scopes
        merged = {**base, **(headers or {})}
        if body is None:
            return Response(status_code=status, headers=merged)
        return JSONResponse(body, status_code=status, headers=merged)

    def _error(self, request: Request, status: int, message: str, **extra: Any) -> Response:
        return self._send(request, status, {**_error_body(message), **extra})

    def _fault(self, request: Request) -> Response | None:
        template = schemas.operation(request.method, request.url.path.removeprefix(GHE_PREFIX))
        queue = self.faults.get((request.method, template or ""))
        if not queue:
            return None
        fault = queue.pop(0)
        return self._send(request, fault.status, fault.body or _error_body(f"emulated {fault.status}"), fault.headers)

    def _credential(self, request: Request) -> tuple[str, str]:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                _user, _, credential = base64.b64decode(credential, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            return "basic", credential
        return scheme.lower(), credential

    def _authorized(self, request: Request) -> bool:
        scheme, credential = self._credential(request)
        if scheme not in ("token", "bearer", "basic") or not credential:
            return False
        if credential in self.tokens:
            return True
        return self.app is not None and self.app.accepts(credential, self.clock.now())

    def _emit(self, name: str, action: str | None, repo: Repo, payload: dict[str, Any]) -> None:
        event = Event(name, action, repo.full_name, payload)
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)

    def _pr_event(self, request: Request, action: str, repo: Repo, pr: PullRecord) -> None:
        objects = self._objects(request)
        payload = {
            "action": action,
            "number": pr.number,
            "pull_request": objects.pull(repo, pr),
            "repository": objects.repository(repo),
            "sender": objects.user(BOT),
        }
        self._emit("pull_request", action, repo, payload)

    # -- routes ----------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        repo = "/repos/{owner}/{repo}"
        api: list[tuple[str, Handler, list[str]]] = [
            (repo, self.get_repo, ["GET"]),
            (repo + "/branches/{branch:path}", self.get_branch, ["GET"]),
            (repo + "/git/ref/{ref:path}", self.get_ref, ["GET"]),
            (repo + "/git/matching-refs/{ref:path}", self.matching_refs, ["GET"]),
            (repo + "/git/refs", self.create_ref, ["POST"]),
            (repo + "/git/refs/{ref:path}", self.update_or_delete_ref, ["PATCH", "DELETE"]),
            (repo + "/pulls", self.list_or_create_pulls, ["GET", "POST"]),
            (repo + "/pulls/{number:int}", self.get_or_edit_pull, ["GET", "PATCH"]),
            (repo + "/pulls/{number:int}/reviews", self.list_reviews, ["GET"]),
            (repo + "/pulls/{number:int}/comments", self.list_review_comments, ["GET"]),
            (repo + "/issues/{number:int}/comments", self.create_comment, ["POST"]),
            (repo + "/issues/{number:int}/labels", self.add_labels, ["POST"]),
            (repo + "/issues/{number:int}", self.get_issue, ["GET"]),
            (repo + "/issues/comments/{comment:int}", self.get_issue_comment, ["GET"]),
            (repo + "/issues/comments/{comment:int}/reactions", self.add_reaction, ["POST"]),
            (repo + "/collaborators/{login}/permission", self.permission, ["GET"]),
            (repo + "/installation", self.repo_installation, ["GET"]),
            ("/app/installations/{installation:int}/access_tokens", self.access_token, ["POST"]),
            ("/rate_limit", self.rate_limit, ["GET"]),
            ("/user", self.user, ["GET"]),
        ]
        routes = [
            Route(prefix + path, self._guarded(handler, app_jwt="installation" in path), methods=methods)
            for prefix in ("", GHE_PREFIX)
            for path, handler, methods in api
        ]
        routes += [
            Route("/graphql", self.graphql, methods=["POST"]),
            Route("/api/graphql", self.graphql, methods=["POST"]),
            Route("/{owner}/{repo}.git/{rest:path}", self.git, methods=["GET", "POST"]),
        ]
        return Starlette(routes=routes)

    def _guarded(self, handler: Handler, *, app_jwt: bool) -> Callable[[Request], Awaitable[Response]]:
        """Faults first, then credentials (App routes check their JWT themselves), then the repository."""

        async def endpoint(request: Request) -> Response:
            fault = self._fault(request)
            if fault is not None:
                return fault
            if not app_jwt and not self._authorized(request):
                return self._error(request, 401, "Bad credentials")
            repo = None
            if "owner" in request.path_params:
                repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['repo']}")
                if repo is None:
                    return self._error(request, 404, "Not Found")
            return await handler(request, repo)

        return endpoint

    async def get_repo(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        return self._send(request, 200, self._objects(request).repository(repo))

    async def get_branch(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        name = request.path_params["branch"]
        sha = repo.sha(f"refs/heads/{name}")
        if sha is None:
            return self._error(request, 404, "Branch not found")
        return self._send(request, 200, self._objects(request).branch(repo, name, sha))

    async def get_ref(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        name = "refs/" + request.path_params["ref"]
        sha = repo.refs(name).get(name)
        if sha is None:
            return self._error(request, 404, "Not Found")
        return self._send(request, 200, self._objects(request).ref(repo, name, sha))

    async def matching_refs(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        prefix = "refs/" + request.path_params["ref"]
        found = [(name, sha) for name, sha in repo.refs().items() if name.startswith(prefix)]
        objects = self._objects(request)
        return self._send(request, 200, [objects.ref(repo, name, sha) for name, sha in found])

    async def create_ref(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        data = await request.json()
        name, sha = str(data.get("ref", "")), str(data.get("sha", ""))
        if not name.startswith("refs/") or name.count("/") < 2:
            return self._error(request, 422, "Reference name is invalid")
        if name in repo.refs(name):
            return self._error(request, 422, "Reference already exists")
        if not repo.is_commit(sha):
            return self._error(request, 422, "Object does not exist")
        repo.git("update-ref", name, sha, "0" * 40)
        self._emit_push(request, repo, {name: ("0" * 40, sha)})
        return self._send(request, 201, self._objects(request).ref(repo, name, sha))

    async def update_or_delete_ref(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        name = "refs/" + request.path_params["ref"]
        current = repo.refs(name).get(name)
        if current is None:
            return self._error(request, 422, "Reference does not exist")
        if request.method == "DELETE":
            repo.git("update-ref", "-d", name, current)
            self._emit_push(request, repo, {name: (current, "0" * 40)})
            return self._send(request, 204, None)
        data = await request.json()
        sha = str(data.get("sha", ""))
        if not repo.is_commit(sha):
            return self._error(request, 422, "Object does not exist")
        if not repo.is_ancestor(current, sha) and not data.get("force"):
            return self._error(request, 422, "Update is not a fast forward")
        repo.git("update-ref", name, sha, current)
        self._emit_push(request, repo, {name: (current, sha)})
        return self._send(request, 200, self._objects(request).ref(repo, name, sha))

    async def list_or_create_pulls(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        objects = self._objects(request)
        if request.method == "GET":
            state = request.query_params.get("state", "open")
            head = request.query_params.get("head")
            base = request.query_params.get("base")
            found = [
                pr
                for pr in sorted(repo.pulls.values(), key=lambda pr: -pr.number)  # newest first, as GitHub
                if (state == "all" or pr.state == state)
                and (head is None or f"{repo.owner}:{pr.head}" == head)
                and (base is None or pr.base == base)
            ]
            return self._send(request, 200, [objects.pull(repo, pr, simple=True) for pr in found])
        data = await request.json()
        with self._lock:
            missing = [key for key in ("title", "head", "base") if not data.get(key)]
            if missing:
                return self._error(
                    request,
                    422,
                    "Validation Failed",
                    errors=[{"resource": "PullRequest", "field": key, "code": "missing_field"} for key in missing],
                )
            if repo.open_pull_for(data["head"]) is not None:
                return self._send(request, 422, _already_exists(repo.owner, data["head"]))
            if repo.sha(data["head"]) is None or repo.sha(data["base"]) is None:
                field = "head" if repo.sha(data["head"]) is None else "base"
                return self._error(
                    request,
                    422,
                    "Validation Failed",
                    errors=[{"resource": "PullRequest", "field": field, "code": "invalid"}],
                )
            now = self._now()
            number = len(repo.pulls) + 1
            pr = PullRecord(
                number, data["title"], data.get("body"), data["head"], data["base"], bool(data.get("draft")), now, now
            )
            repo.pulls[number] = pr
        self._pr_event(request, "opened", repo, pr)
        return self._send(request, 201, objects.pull(repo, pr))

    async def get_or_edit_pull(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        pr = repo.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        if request.method == "PATCH":
            data = await request.json()
            before = pr.state
            for key in ("title", "body", "base"):
                if key in data:
                    setattr(pr, key, data[key])
            if data.get("state") in ("open", "closed") and not pr.merged:
                pr.state = data["state"]
            pr.updated_at = self._now()
            action = "edited" if pr.state == before else "closed" if pr.state == "closed" else "reopened"
            self._pr_event(request, action, repo, pr)
        return self._send(request, 200, self._objects(request).pull(repo, pr))

    async def list_reviews(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        number = request.path_params["number"]
        pr = repo.pulls.get(number)
        if pr is None:
            return self._error(request, 404, "Not Found")
        objects = self._objects(request)
        return self._send(request, 200, [objects.review(repo, number, review) for review in pr.reviews])

    async def list_review_comments(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        number = request.path_params["number"]
        pr = repo.pulls.get(number)
        if pr is None:
            return self._error(request, 404, "Not Found")
        objects = self._objects(request)
        return self._send(request, 200, [objects.review_comment(repo, number, c) for c in pr.review_comments])

    async def create_comment(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        number = request.path_params["number"]
        pr = repo.pulls.get(number)
        if pr is None:
            return self._error(request, 404, "Not Found")
        body = (await request.json()).get("body")
        if not isinstance(body, str) or not body:
            return self._error(request, 422, "Validation Failed", errors=[{"field": "body", "code": "missing_field"}])
        comment = Comment(repo.take_id(), body, BOT, self._now())
        pr.comments.append(comment)
        objects = self._objects(request)
        rendered = objects.comment(repo, number, comment)
        issue = {"number": number, "title": pr.title, "pull_request": {"url": objects.pull(repo, pr)["url"]}}
        payload = {"action": "created", "issue": issue, "comment": rendered, "repository": objects.repository(repo)}
        self._emit("issue_comment", "created", repo, payload)
        return self._send(request, 201, rendered)

    async def add_labels(self, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        pr = repo.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        data = await request.json()
        names = data["labels"] if isinstance(data, dict) else data  # both forms GitHub documents
        for item in names:
            name = item["name"] if isinstance(item, dict) else item
            if name not in pr.labels:
                pr.labels.append(name)
        objects = self._objects(request)
        return self._send(request, 200, [objects.label(repo, name) for name in pr.labels])

    async def repo_installation(self, request: Request, repo: Repo | None) -> Response:
        refused = self._check_app_jwt(request)
        if refused is not None:
            return refused
        assert self.app is not None
        installation = schemas.example("installation")
        installation.update({"id": self.app.installation_id, "app_id": self.app.app_id})
        return self._send(request, 200, installation)

    async def access_token(self, request: Request, repo: Repo | None) -> Response:
        refused = self._check_app_jwt(request)
        if refused is not None:
            return refused
        assert self.app is not None
        if request.path_params["installation"] != self.app.installation_id:
            return self._error(request, 404, "Not Found")
        issued = "ghs_" + secrets.token_hex(18)
        expires = self.clock.now() + self.app.token_ttl
        self.app.issued.append((issued, expires))
        body = schemas.example("installation-token")
        body.update({"token": issued, "expires_at": stamp(expires)})
        return self._send(request, 201, body)

    def _check_app_jwt(self, request: Request) -> Response | None:
        """GitHub App endpoints want ``Bearer <JWT>`` signed with the App's key and issued by its id."""
        if self.app is None:
            return self._error(request, 404, "Not Found")
        scheme, credential = self._credential(request)
        if scheme != "bearer":
            return self._error(request, 401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(credential, self.app.public_key_pem, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return self._error(request, 401, f"A JSON web token could not be decoded: {exc}")
        if str(claims.get("iss")) != str(self.app.app_id):
            return self._error(request, 401, "'Issuer' claim ('iss') must be the app id")
        return None

    async def rate_limit(self, request: Request, repo: Repo | None) -> Response:
        return self._send(request, 200, schemas.example("rate-limit-overview"))

    async def user(self, request: Request, repo: Repo | None) -> Response:
        user = schemas.example("private-user-response-with-public-profile-information")
        user.update({"login": BOT, "type": "Bot"})
        return self._send(request, 200, user)

    async def graphql(self, request: Request) -> Response:
        """The draft-state mutations; GraphQL answers 200 with ``errors`` for most failures."""
        if not self._authorized(request):
            return self._send_graphql(request, 401, graphql.error_body("UNAUTHORIZED", "Bad credentials"))
        pulls = {
            graphql.node_id(repo.full_name, pr.number): (repo, pr)
            for repo in self.repos.values()
            for pr in repo.pulls.values()
        }
        document = await request.json()
        body, changed = graphql.answer(document, {key: pr for key, (_repo, pr) in pulls.items()})
        if changed is not None:
            owner = next(repo for repo, pr in pulls.values() if pr is changed)
            changed.updated_at = self._now()
            action = "converted_to_draft" if changed.draft else "ready_for_review"
            self._pr_event(request, action, owner, changed)
        return self._send_graphql(request, 200, body)

    def _send_graphql(self, request: Request, status: int, body: dict[str, Any]) -> Response:
        self.violations.extend(graphql.problems(body))
        self.requests.append((request.method, request.url.path, status))
        return JSONResponse(body, status_code=status)

    async def git(self, request: Request) -> Response:
        """Smart HTTP through git's own CGI, behind the same credentials as the API."""
        if not self._authorized(request):
            return Response("unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="GitHub"'})
        repo = self.repos.get(f"{request.path_params['owner']}/{request.path_params['repo']}")
        if repo is None:
            return Response("Repository not found.", status_code=404)
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.owner}/{repo.name}.git/{request.path_params['rest']}",
            "QUERY_STRING": request.url.query,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
            "PATH": "/usr/bin:/bin",
        }
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        pushing = request.path_params["rest"] == "git-receive-pack"
        before = repo.refs() if pushing else {}
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        if pushing:
            after = repo.refs()
            moved = {
                name: (before.get(name, "0" * 40), after.get(name, "0" * 40))
                for name in before.keys() | after.keys()
                if before.get(name) != after.get(name)
            }
            self._emit_push(request, repo, moved)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name] = value.strip()
        return Response(payload, status_code=status, headers=headers)

    def _emit_push(self, request: Request, repo: Repo, moved: dict[str, tuple[str, str]]) -> None:
        """A ``push`` event per moved ref, and ``synchronize`` for the open PRs whose head moved."""
        objects = self._objects(request)
        for name, (old, new) in sorted(moved.items()):
            payload = {
                "ref": name,
                "before": old,
                "after": new,
                "created": set(old) == {"0"},
                "deleted": set(new) == {"0"},
                "repository": objects.repository(repo),
                "sender": objects.user(BOT),
            }
            self._emit("push", None, repo, payload)
            branch = name.removeprefix("refs/heads/")
            pr = repo.open_pull_for(branch) if name.startswith("refs/heads/") else None
            if pr is not None and set(new) != {"0"}:
                pr.updated_at = self._now()
                self._pr_event(request, "synchronize", repo, pr)


def _error_body(message: str) -> dict[str, Any]:
    return {"message": message, "documentation_url": "https://docs.github.com/rest"}


def _already_exists(owner: str, head: str) -> dict[str, Any]:
    error = {
        "resource": "PullRequest",
        "code": "custom",
        "message": f"A pull request already exists for {owner}:{head}.",
    }
    return {**_error_body("Validation Failed"), "errors": [error], "status": "422"}
