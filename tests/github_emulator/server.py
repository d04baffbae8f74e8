"""A small GitHub, over real HTTP, for the GitHub forge's tests.

It implements the REST subset devops-healer uses, serves git over smart HTTP (``git
http-backend``) from a bare repository per emulated repository, checks credentials as GitHub
does (tokens, GitHub App JWTs and installation tokens), can be told to fail (5xx, secondary rate
limits, 422), and validates every JSON body it sends against GitHub's official schemas,
recording any mismatch in ``violations`` (tests assert it stays empty).
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.github_emulator import schemas, webhooks

BOT = "devops-healer[bot]"
#: Operations the review loop uses that the trimmed description does not have: their answers are
#: built like GitHub's documented ones but cannot be checked, so they are listed in ``unvalidated``.
UNDOCUMENTED = (
    re.compile(r"^/repos/[^/]+/[^/]+/issues/\d+$"),
    re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/\d+$"),
    re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/\d+/reactions$"),
    re.compile(r"^/repos/[^/]+/[^/]+/collaborators/[^/]+/permission$"),
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


@dataclass
class PullRecord:
    number: int
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    review_comments: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    merge_commit_sha: str | None = None
    user: str = "devops-healer[bot]"


@dataclass
class AppInstallation:
    app_id: int
    public_key_pem: bytes
    installation_id: int
    token_ttl: timedelta = timedelta(hours=1)
    issued: list[tuple[str, datetime]] = field(default_factory=list)


class GitHubEmulator:
    def __init__(self, root: Path, *, owner: str = "acme", repo: str = "payments", token: str | None = None) -> None:
        self.root = root
        self.owner = owner
        self.repo = repo
        self.bare = root / f"{owner}" / f"{repo}.git"
        self.tokens: set[str] = {token or "ghp_" + secrets.token_hex(18)}
        self.app: AppInstallation | None = None
        self.pulls: dict[int, PullRecord] = {}
        self.faults: dict[tuple[str, str], list[Fault]] = {}
        self.violations: list[str] = []
        self.unvalidated: list[str] = []
        self.hooks = webhooks.WebhookSender()
        self.permissions: dict[str, str] = {}
        self.reactions: list[tuple[int, str, str]] = []
        self._ids = 5000
        self.requests: list[tuple[str, str, int]] = []
        self.default_branch = "main"
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------

    def seed(self, source: Path) -> None:
        """The emulated repository starts as a bare clone of ``source``."""
        self.bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(self.bare)], check=True)
        subprocess.run(["git", "-C", str(self.bare), "config", "http.receivepack", "true"], check=True)

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
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)

    @property
    def token(self) -> str:
        return next(iter(self.tokens))

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
        """The next ``times`` requests to ``method template`` answer ``status`` instead."""
        self.faults.setdefault((method, template), []).extend(Fault(status, headers or {}, body) for _ in range(times))

    def enable_app(self, app_id: int, public_key_pem: bytes, installation_id: int, token_ttl: timedelta) -> None:
        self.app = AppInstallation(app_id, public_key_pem, installation_id, token_ttl)

    def head_sha(self, branch: str) -> str | None:
        done = subprocess.run(
            ["git", "-C", str(self.bare), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() or None

    # -- answering -------------------------------------------------------------------------------

    def _json(self, request: Request, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        path = request.url.path
        if schemas.operation(request.method, path) is None and any(p.match(path) for p in UNDOCUMENTED):
            self.unvalidated.append(f"{request.method} {path} {status}")
        else:
            self.violations.extend(schemas.problems(request.method, path, status, body))
        self.requests.append((request.method, request.url.path, status))
        base = {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
        }
        return JSONResponse(body, status_code=status, headers={**base, **(headers or {})})

    def _error(self, request: Request, status: int, message: str, **extra: Any) -> Response:
        body = {"message": message, "documentation_url": "https://docs.github.com/rest", **extra}
        return self._json(request, status, body)

    def _fault(self, request: Request) -> Response | None:
        template = schemas.operation(request.method, request.url.path)
        queue = self.faults.get((request.method, template or ""))
        if not queue:
            return None
        fault = queue.pop(0)
        body = fault.body or {
            "message": f"emulated {fault.status}",
            "documentation_url": "https://docs.github.com/rest",
        }
        self.requests.append((request.method, request.url.path, fault.status))
        return JSONResponse(body, status_code=fault.status, headers=fault.headers)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() in ("token", "bearer"):
            return credential in self.tokens or self._valid_installation_token(credential)
        if scheme.lower() == "basic":
            _user, _, password = base64.b64decode(credential).decode().partition(":")
            return password in self.tokens or self._valid_installation_token(password)
        return False

    def _valid_installation_token(self, token: str) -> bool:
        if self.app is None:
            return False
        now = datetime.now(UTC)
        return any(token == issued and now < expires for issued, expires in self.app.issued)

    # -- objects built from GitHub's own examples ------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        user = schemas.example("pull-request")["user"]
        api = f"{self.url}/users/{login}"
        user.update(
            {
                "login": login,
                "id": abs(hash(login)) % 10_000_000,
                "url": api,
                "html_url": f"{self.url}/{login}",
                "type": "Bot" if login.endswith("[bot]") else "User",
            }
        )
        return user

    def _repository(self) -> dict[str, Any]:
        repo = schemas.example("full-repository-default-response")
        full = f"{self.owner}/{self.repo}"
        repo.update(
            {
                "name": self.repo,
                "full_name": full,
                "default_branch": self.default_branch,
                "private": True,
                "url": f"{self.url}/repos/{full}",
                "html_url": f"{self.url}/{full}",
                "clone_url": f"{self.url}/{full}.git",
                "language": "Python",
            }
        )
        repo["owner"] = self._user(self.owner)
        # Not required, and the example's copies lack fields the schema requires: a fork's parents.
        for key in ("source", "parent", "template_repository"):
            repo.pop(key, None)
        return repo

    def _pull(self, pr: PullRecord, *, simple: bool = False) -> dict[str, Any]:
        data = schemas.example("pull-request-simple-items")[0] if simple else schemas.example("pull-request")
        full = f"{self.owner}/{self.repo}"
        api = f"{self.url}/repos/{full}"
        head_sha = self.head_sha(pr.head) or "0" * 40
        base_sha = self.head_sha(pr.base) or "0" * 40
        data.update(
            {
                "url": f"{api}/pulls/{pr.number}",
                "id": pr.number,
                "node_id": f"PR_{pr.number}",
                "html_url": f"{self.url}/{full}/pull/{pr.number}",
                "number": pr.number,
                "state": pr.state,
                "title": pr.title,
                "body": pr.body,
                "draft": pr.draft,
                "created_at": pr.created_at,
                "updated_at": pr.updated_at,
                "closed_at": None if pr.state == "open" else pr.updated_at,
                "merged_at": pr.updated_at if pr.merged else None,
                "merge_commit_sha": pr.merge_commit_sha,
                "issue_url": f"{api}/issues/{pr.number}",
                "comments_url": f"{api}/issues/{pr.number}/comments",
                "review_comments_url": f"{api}/pulls/{pr.number}/comments",
                "commits_url": f"{api}/pulls/{pr.number}/commits",
                "labels": [self._label(name) for name in pr.labels],
                "requested_teams": [],
                "requested_reviewers": [],
                "assignee": None,
                "assignees": [],
                "milestone": None,
                "user": self._user(pr.user),
            }
        )
        for side, branch, sha in (("head", pr.head, head_sha), ("base", pr.base, base_sha)):
            data[side].update({"ref": branch, "sha": sha, "label": f"{self.owner}:{branch}"})
            data[side]["repo"] = self._repository()
            data[side]["user"] = self._user(self.owner)
        if not simple:
            data.update(
                {
                    "merged": pr.merged,
                    "comments": len(pr.comments),
                    "review_comments": len(pr.review_comments),
                    "merged_by": self._user("ana") if pr.merged else None,
                }
            )
        return data

    def _label(self, name: str) -> dict[str, Any]:
        label = schemas.example("label-items")[0]
        label.update(
            {
                "name": name,
                "url": f"{self.url}/repos/{self.owner}/{self.repo}/labels/{name}",
                "id": abs(hash(name)) % 10_000_000,
            }
        )
        return label

    # -- routes ----------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        prefix = "/repos/{owner}/{repo}"
        routes = [
            Route(prefix, self.get_repo, methods=["GET"]),
            Route(prefix + "/pulls", self.list_or_create_pulls, methods=["GET", "POST"]),
            Route(prefix + "/pulls/{number:int}", self.get_or_edit_pull, methods=["GET", "PATCH"]),
            Route(prefix + "/pulls/{number:int}/reviews", self.list_reviews, methods=["GET"]),
            Route(prefix + "/pulls/{number:int}/comments", self.list_review_comments, methods=["GET"]),
            Route(prefix + "/issues/{number:int}/comments", self.create_comment, methods=["POST"]),
            Route(prefix + "/issues/{number:int}/labels", self.add_labels, methods=["POST"]),
            Route(prefix + "/issues/{number:int}", self.get_issue, methods=["GET"]),
            Route(prefix + "/issues/comments/{comment:int}", self.get_issue_comment, methods=["GET"]),
            Route(prefix + "/issues/comments/{comment:int}/reactions", self.add_reaction, methods=["POST"]),
            Route(prefix + "/collaborators/{login}/permission", self.permission, methods=["GET"]),
            Route(prefix + "/installation", self.repo_installation, methods=["GET"]),
            Route("/app/installations/{installation:int}/access_tokens", self.access_token, methods=["POST"]),
            Route("/rate_limit", self.rate_limit, methods=["GET"]),
            Route("/user", self.user, methods=["GET"]),
            Route("/{owner}/{repo}.git/{rest:path}", self.git, methods=["GET", "POST"]),
        ]
        return Starlette(routes=routes)

    async def _guard(self, request: Request, *, app_jwt: bool = False) -> Response | None:
        fault = self._fault(request)
        if fault is not None:
            return fault
        if app_jwt:
            return None
        if not self._authorized(request):
            return self._error(request, 401, "Bad credentials")
        owner, repo = request.path_params.get("owner"), request.path_params.get("repo")
        if owner is not None and (owner, repo) != (self.owner, self.repo):
            return self._error(request, 404, "Not Found")
        return None

    async def get_repo(self, request: Request) -> Response:
        return await self._guard(request) or self._json(request, 200, self._repository())

    async def list_or_create_pulls(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            state = request.query_params.get("state", "open")
            head = request.query_params.get("head")
            found = [
                pr
                for pr in self.pulls.values()
                if (state == "all" or pr.state == state) and (head is None or f"{self.owner}:{pr.head}" == head)
            ]
            return self._json(request, 200, [self._pull(pr, simple=True) for pr in found])
        data = await request.json()
        with self._lock:
            if any(pr.state == "open" and pr.head == data["head"] for pr in self.pulls.values()):
                return self._error(
                    request,
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {self.owner}:{data['head']}.",
                        }
                    ],
                )
            if self.head_sha(data["head"]) is None:
                return self._error(
                    request,
                    422,
                    "Validation Failed",
                    errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                )
            number = len(self.pulls) + 1
            pr = PullRecord(
                number, data["title"], data.get("body"), data["head"], data["base"], bool(data.get("draft"))
            )
            self.pulls[number] = pr
        self.hooks.send("pull_request", self._payload("pull_request", "opened", pr, BOT))
        return self._json(request, 201, self._pull(pr))

    async def get_or_edit_pull(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        if request.method == "PATCH":
            data = await request.json()
            for key in ("title", "body", "state"):
                if key in data:
                    setattr(pr, key, data[key])
            pr.updated_at = _now()
        return self._json(request, 200, self._pull(pr))

    async def list_reviews(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        return self._json(request, 200, list(pr.reviews) if pr else [])

    async def list_review_comments(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        return self._json(request, 200, list(pr.review_comments) if pr else [])

    async def create_comment(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        comment = schemas.example("issue-comment")
        comment.update(
            {
                "id": 1000 + len(pr.comments),
                "body": (await request.json())["body"],
                "user": self._user("devops-healer[bot]"),
                "created_at": _now(),
                "updated_at": _now(),
            }
        )
        pr.comments.append(comment)
        return self._json(request, 201, comment)

    async def add_labels(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        data = await request.json()
        names = data["labels"] if isinstance(data, dict) else data  # both forms GitHub documents
        for name in names:
            name = name["name"] if isinstance(name, dict) else name
            if name not in pr.labels:
                pr.labels.append(name)
        return self._json(request, 200, [self._label(name) for name in pr.labels])

    async def repo_installation(self, request: Request) -> Response:
        refused = await self._guard(request, app_jwt=True)
        if refused is not None:
            return refused
        installation = schemas.example("installation")
        if self.app is not None:
            installation.update({"id": self.app.installation_id, "app_id": self.app.app_id})
        return self._json(request, 200, installation)

    async def access_token(self, request: Request) -> Response:
        refused = await self._guard(request, app_jwt=True)
        if refused is not None:
            return refused
        if self.app is None or request.path_params["installation"] != self.app.installation_id:
            return self._error(request, 404, "Not Found")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, self.app.public_key_pem, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return self._error(request, 401, f"A JSON web token could not be decoded: {exc}")
        if scheme.lower() != "bearer" or str(claims.get("iss")) != str(self.app.app_id):
            return self._error(request, 401, "'Issuer' claim ('iss') must be the app id")
        issued = "ghs_" + secrets.token_hex(18)
        expires = datetime.now(UTC) + self.app.token_ttl
        self.app.issued.append((issued, expires))
        body = schemas.example("installation-token")
        body.update({"token": issued, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return self._json(request, 201, body)

    async def rate_limit(self, request: Request) -> Response:
        return await self._guard(request) or self._json(request, 200, schemas.example("rate-limit-overview"))

    async def user(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        user = schemas.example("private-user-response-with-public-profile-information")
        user.update({"login": "devops-healer[bot]"})
        return self._json(request, 200, user)

    async def git(self, request: Request) -> Response:
        """Smart HTTP through git's own CGI, behind the same credentials as the API."""
        if not self._authorized(request):
            return Response("unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="GitHub"'})
        if (request.path_params["owner"], request.path_params["repo"]) != (self.owner, self.repo):
            return Response("not found", status_code=404)
        env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{self.owner}/{self.repo}.git/{request.path_params['rest']}",
            "QUERY_STRING": request.url.query,
            "REQUEST_METHOD": request.method,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": "127.0.0.1",
            "PATH": "/usr/bin:/bin",
        }
        pushing = request.method == "POST" and request.path_params["rest"].endswith("git-receive-pack")
        before = {n: self.head_sha(pr.head) for n, pr in self.pulls.items() if pr.state == "open"} if pushing else {}
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name] = value.strip()
        for number, old in before.items():
            new = self.head_sha(self.pulls[number].head)
            if new != old:
                pr = self.pulls[number]
                self.hooks.send(
                    "pull_request", self._payload("pull_request", "synchronize", pr, BOT, before=old, after=new)
                )
        return Response(payload, status_code=status, headers=headers)

    # -- issues, reactions and permissions (the review loop's commands) --------------------------

    def _comment(self, number: int, comment_id: int) -> dict[str, Any] | None:
        pr = self.pulls.get(number)
        return next((c for c in (pr.comments if pr else []) if c["id"] == comment_id), None)

    def _issue(self, pr: PullRecord) -> dict[str, Any]:
        issue = webhooks.template("issue_comment")["issue"]
        full = f"{self.owner}/{self.repo}"
        api = f"{self.url}/repos/{full}"
        issue.update(
            {
                "id": pr.number,
                "number": pr.number,
                "title": pr.title,
                "body": pr.body,
                "state": "open" if pr.state == "open" else "closed",
                "user": self._user(pr.user),
                "url": f"{api}/issues/{pr.number}",
                "html_url": f"{self.url}/{full}/pull/{pr.number}",
                "repository_url": api,
                "comments_url": f"{api}/issues/{pr.number}/comments",
                "comments": len(pr.comments),
                "labels": [self._label(name) for name in pr.labels],
                "pull_request": {
                    "url": f"{api}/pulls/{pr.number}",
                    "html_url": f"{self.url}/{full}/pull/{pr.number}",
                    "diff_url": f"{self.url}/{full}/pull/{pr.number}.diff",
                    "patch_url": f"{self.url}/{full}/pull/{pr.number}.patch",
                },
            }
        )
        return issue

    async def get_issue(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        pr = self.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        return self._json(request, 200, self._issue(pr))

    async def get_issue_comment(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        wanted = request.path_params["comment"]
        found = next((c for pr in self.pulls.values() for c in pr.comments if c["id"] == wanted), None)
        if found is None:
            return self._error(request, 404, "Not Found")
        return self._json(request, 200, found)

    async def add_reaction(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        wanted = request.path_params["comment"]
        if not any(c["id"] == wanted for pr in self.pulls.values() for c in pr.comments):
            return self._error(request, 404, "Not Found")
        content = (await request.json())["content"]
        self.reactions.append((wanted, content, BOT))
        reaction = {
            "id": self._next_id(),
            "node_id": f"REA_{wanted}",
            "user": self._user(BOT),
            "content": content,
            "created_at": _now(),
        }
        return self._json(request, 201, reaction)

    async def permission(self, request: Request) -> Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        login = request.path_params["login"]
        level = self.permissions.get(login, "read")
        return self._json(request, 200, {"permission": level, "role_name": level, "user": self._user(login)})

    # -- the people on the other side: what they do, and the webhooks it sends ------------------

    def deliver_to(self, url: str, secret: str) -> None:
        """Send webhooks to ``url``, signed with ``secret``, as a repository webhook would."""
        self.hooks.configure(url, secret)

    def grant(self, login: str, permission: str) -> None:
        self.permissions[login] = permission

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _payload(self, event: str, action: str, pr: PullRecord, sender: str, **extra: Any) -> dict[str, Any]:
        data = webhooks.template(event)
        for key in ("organization", "installation", "enterprise"):
            data.pop(key, None)
        data.update({"action": action, "repository": self._repository(), "sender": self._user(sender)})
        if event != "issue_comment":
            data["pull_request"] = self._pull(pr)
        if event == "pull_request":
            data["number"] = pr.number
        data.update(extra)
        return data

    def review(
        self,
        number: int,
        login: str,
        state: str,
        body: str = "",
        comments: list[tuple[str, int, str]] | None = None,
        association: str = "COLLABORATOR",
        commit: str | None = None,
    ) -> int:
        """A submitted review: its inline comments (each a delivery), then the verdict; returns the review id."""
        pr = self.pulls[number]
        head = commit or self.head_sha(pr.head) or ""
        review_id = self._next_id()
        full = f"{self.owner}/{self.repo}"
        for path, line, text in comments or []:
            comment = webhooks.template("pull_request_review_comment")["comment"]
            comment_id = self._next_id()
            comment.update(
                {
                    "id": comment_id,
                    "node_id": f"PRRC_{comment_id}",
                    "pull_request_review_id": review_id,
                    "path": path,
                    "line": line,
                    "original_line": line,
                    "start_line": None,
                    "original_start_line": None,
                    "position": 1,
                    "original_position": 1,
                    "commit_id": head,
                    "original_commit_id": head,
                    "body": text,
                    "user": self._user(login),
                    "author_association": association,
                    "url": f"{self.url}/repos/{full}/pulls/comments/{comment_id}",
                    "html_url": f"{self.url}/{full}/pull/{number}#discussion_r{comment_id}",
                    "pull_request_url": f"{self.url}/repos/{full}/pulls/{number}",
                    "created_at": _now(),
                    "updated_at": _now(),
                }
            )
            pr.review_comments.append(comment)
            self.hooks.send(
                "pull_request_review_comment",
                self._payload("pull_request_review_comment", "created", pr, login, comment=comment),
            )
        review = webhooks.template("pull_request_review")["review"]
        review.update(
            {
                "id": review_id,
                "node_id": f"PRR_{review_id}",
                "user": self._user(login),
                "body": body or None,
                "commit_id": head,
                "state": state,
                "submitted_at": _now(),
                "author_association": association,
                "html_url": f"{self.url}/{full}/pull/{number}#pullrequestreview-{review_id}",
                "pull_request_url": f"{self.url}/repos/{full}/pulls/{number}",
            }
        )
        pr.reviews.append(review)
        self.hooks.send(
            "pull_request_review", self._payload("pull_request_review", "submitted", pr, login, review=review)
        )
        return review_id

    def comment(self, number: int, login: str, body: str, association: str = "CONTRIBUTOR") -> int:
        """A conversation comment on the pull request (an issue comment); returns its id."""
        pr = self.pulls[number]
        comment = webhooks.template("issue_comment")["comment"]
        comment_id = self._next_id()
        full = f"{self.owner}/{self.repo}"
        comment.update(
            {
                "id": comment_id,
                "node_id": f"IC_{comment_id}",
                "body": body,
                "user": self._user(login),
                "author_association": association,
                "url": f"{self.url}/repos/{full}/issues/comments/{comment_id}",
                "html_url": f"{self.url}/{full}/pull/{number}#issuecomment-{comment_id}",
                "issue_url": f"{self.url}/repos/{full}/issues/{number}",
                "created_at": _now(),
                "updated_at": _now(),
            }
        )
        pr.comments.append(comment)
        self.hooks.send(
            "issue_comment",
            self._payload("issue_comment", "created", pr, login, issue=self._issue(pr), comment=comment),
        )
        return comment_id

    def push_as(self, number: int, login: str, path: str, content: str) -> str:
        """A person commits to the pull request's branch; returns the new head."""
        pr = self.pulls[number]
        before = self.head_sha(pr.head)
        with tempfile.TemporaryDirectory() as work:

            def run(*args: str) -> None:
                subprocess.run(["git", "-C", work, *args], check=True, capture_output=True)

            subprocess.run(["git", "clone", "-q", "--branch", pr.head, str(self.bare), work], check=True)
            (Path(work) / path).write_text(content)
            run("add", "-A")
            run(
                "-c",
                f"user.name={login}",
                "-c",
                f"user.email={login}@users.noreply.github.com",
                "commit",
                "-q",
                "-m",
                f"{login}'s change",
            )
            run("push", "-q", "origin", f"HEAD:refs/heads/{pr.head}")
        after = self.head_sha(pr.head) or ""
        self.hooks.send(
            "pull_request", self._payload("pull_request", "synchronize", pr, login, before=before, after=after)
        )
        return after

    def merge(self, number: int, login: str) -> str:
        """Merge the pull request with a merge commit, as the green button does; returns the merge commit."""
        pr = self.pulls[number]
        base, head = self.head_sha(pr.base) or "", self.head_sha(pr.head) or ""

        def git(*args: str, data: bytes | None = None, env: dict[str, str] | None = None) -> str:
            done = subprocess.run(
                ["git", "-C", str(self.bare), *args], check=True, capture_output=True, input=data, env=env
            )
            return done.stdout.decode().strip()

        tree = git("merge-tree", "--write-tree", base, head).split()[0]
        env = {
            "GIT_AUTHOR_NAME": login,
            "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
            "PATH": "/usr/bin:/bin",
        }
        message = f"Merge pull request #{number} from {self.owner}/{pr.head}\n\n{pr.title}\n".encode()
        merged = git("commit-tree", tree, "-p", base, "-p", head, data=message, env=env)
        git("update-ref", f"refs/heads/{pr.base}", merged, base)
        pr.state, pr.merged, pr.merge_commit_sha, pr.updated_at = "closed", True, merged, _now()
        self.hooks.send("pull_request", self._payload("pull_request", "closed", pr, login))
        return merged

    def close(self, number: int, login: str) -> None:
        pr = self.pulls[number]
        pr.state, pr.updated_at = "closed", _now()
        self.hooks.send("pull_request", self._payload("pull_request", "closed", pr, login))

    def check_run(self, number: int, name: str, conclusion: str, summary: str) -> None:
        """CI finished on the pull request's head."""
        pr = self.pulls[number]
        head = self.head_sha(pr.head)
        data = webhooks.template("check_run")
        for key in ("organization", "installation", "enterprise"):
            data.pop(key, None)
        run_id = self._next_id()
        full = f"{self.owner}/{self.repo}"
        check = data["check_run"]
        check.update(
            {
                "id": run_id,
                "name": name,
                "head_sha": head,
                "conclusion": conclusion,
                "status": "completed",
                "details_url": f"{self.url}/{full}/actions/runs/{run_id}",
                "html_url": f"{self.url}/{full}/runs/{run_id}",
                "output": {**check["output"], "title": f"{name}: {conclusion}", "summary": summary},
                "pull_requests": [
                    {
                        "url": f"{self.url}/repos/{full}/pulls/{number}",
                        "id": number,
                        "number": number,
                        "head": {
                            "ref": pr.head,
                            "sha": head,
                            "repo": {"id": 1, "url": f"{self.url}/repos/{full}", "name": self.repo},
                        },
                        "base": {
                            "ref": pr.base,
                            "sha": self.head_sha(pr.base),
                            "repo": {"id": 1, "url": f"{self.url}/repos/{full}", "name": self.repo},
                        },
                    }
                ],
            }
        )
        data.update(
            {"action": "completed", "repository": self._repository(), "sender": self._user("github-actions[bot]")}
        )
        self.hooks.send("check_run", data)
