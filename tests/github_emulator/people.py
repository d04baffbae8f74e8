"""The other side of the bot's pull requests: reviewers, commenters, CI and the merge button.

What people do on github.com, done to the emulator's state, each with the webhook events GitHub
sends for it; plus the REST calls the review loop makes back (the issue, a comment, a reaction,
a collaborator's permission). Those four are missing from the trimmed description, so their
answers are built from documented shapes and listed in ``unvalidated`` instead of checked.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tests.github_emulator import webhooks
from tests.github_emulator.objects import Objects
from tests.github_emulator.state import BOT, Comment, Event, PullRecord, Repo, Review, ReviewComment

if TYPE_CHECKING:
    from tests.github_emulator.server import GitHubEmulator

#: Operations the review loop uses that the trimmed description does not have.
UNDOCUMENTED = (
    re.compile(r"^/repos/[^/]+/[^/]+/issues/\d+$"),
    re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/\d+$"),
    re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/\d+/reactions$"),
    re.compile(r"^/repos/[^/]+/[^/]+/collaborators/[^/]+/permission$"),
)


def undocumented(path: str) -> bool:
    return any(pattern.match(path) for pattern in UNDOCUMENTED)


class People:
    """Mixed into GitHubEmulator: people's actions, webhook delivery, and the calls back."""

    def _people_init(self: GitHubEmulator) -> None:
        self.hooks = webhooks.WebhookSender()
        self.permissions: dict[str, str] = {}
        self.reactions: list[tuple[int, str, str]] = []
        self.unvalidated: list[str] = []

    # -- webhooks --------------------------------------------------------------------------------

    def deliver_to(self: GitHubEmulator, url: str, secret: str) -> None:
        """Deliver every event from now on to ``url``, signed with ``secret``, as a repository webhook."""
        self.hooks.configure(url, secret)
        self.subscribe(self._deliver)

    def _deliver(self: GitHubEmulator, event: Event) -> None:
        if event.name == "push":
            return  # the review loop does not subscribe to pushes
        data = webhooks.template(event.name) if event.name in webhooks.TEMPLATES else {}
        for key in ("organization", "installation", "enterprise"):
            data.pop(key, None)
        data.update(event.payload)
        data.setdefault("sender", self._web().user(BOT))
        self.hooks.send(event.name, data)

    def _web(self: GitHubEmulator) -> Objects:
        return Objects(self.url, self.url)

    def grant(self: GitHubEmulator, login: str, permission: str) -> None:
        self.permissions[login] = permission

    # -- what people do --------------------------------------------------------------------------

    def _base(self: GitHubEmulator, pr: PullRecord, sender: str) -> dict[str, Any]:
        objects = self._web()
        return {
            "pull_request": objects.pull(self.default, pr),
            "repository": objects.repository(self.default),
            "sender": objects.user(sender),
        }

    def review(
        self: GitHubEmulator,
        number: int,
        login: str,
        state: str,
        body: str = "",
        comments: list[tuple[str, int, str]] | None = None,
        association: str = "COLLABORATOR",
    ) -> int:
        """A submitted review: each inline comment (a delivery each), then the verdict; returns the review id."""
        repo, pr = self.default, self.pulls[number]
        objects = self._web()
        head = repo.sha(pr.head) or ""
        for path, line, text in comments or []:
            comment = ReviewComment(repo.take_id(), text, path, line, login, head, self._now())
            pr.review_comments.append(comment)
            rendered = objects.review_comment(repo, number, comment)
            rendered.update(author_association=association, original_line=line)
            payload = {"action": "created", "comment": rendered, **self._base(pr, login)}
            self._emit("pull_request_review_comment", "created", repo, payload)
        review = Review(repo.take_id(), state.upper(), body, login, head, self._now())
        pr.reviews.append(review)
        rendered = objects.review(repo, number, review)
        rendered.update(state=state.lower(), author_association=association, body=body or None)
        self._emit(
            "pull_request_review",
            "submitted",
            repo,
            {"action": "submitted", "review": rendered, **self._base(pr, login)},
        )
        return review.id

    def comment(self: GitHubEmulator, number: int, login: str, body: str, association: str = "CONTRIBUTOR") -> int:
        """A conversation comment on the pull request (an issue comment); returns its id."""
        repo, pr = self.default, self.pulls[number]
        comment = Comment(repo.take_id(), body, login, self._now())
        pr.comments.append(comment)
        objects = self._web()
        rendered = objects.comment(repo, number, comment)
        rendered["author_association"] = association
        payload = {
            "action": "created",
            "issue": self._issue(repo, pr),
            "comment": rendered,
            "repository": objects.repository(repo),
            "sender": objects.user(login),
        }
        self._emit("issue_comment", "created", repo, payload)
        return comment.id

    def push_as(self: GitHubEmulator, number: int, login: str, path: str, content: str) -> str:
        """A person commits to the pull request's branch; returns the new head."""
        repo, pr = self.default, self.pulls[number]
        before = repo.sha(pr.head)
        with tempfile.TemporaryDirectory() as work:

            def run(*args: str) -> None:
                subprocess.run(["git", "-C", work, *args], check=True, capture_output=True)

            subprocess.run(["git", "clone", "-q", "--branch", pr.head, str(repo.bare), work], check=True)
            (Path(work) / path).write_text(content)
            run("add", "-A")
            run(
                "-c",
                f"user.name={login}",
                "-c",
                f"user.email={login}@users.noreply.github.com",
                "commit",
                "-qm",
                "edit",
            )
            run("push", "-q", "origin", f"HEAD:refs/heads/{pr.head}")
        after = repo.sha(pr.head) or ""
        payload = {"action": "synchronize", "number": number, "before": before, "after": after, **self._base(pr, login)}
        self._emit("pull_request", "synchronize", repo, payload)
        return after

    def merge(self: GitHubEmulator, number: int, login: str) -> str:
        """Merge with a merge commit, as the green button does; returns the merge commit."""
        repo, pr = self.default, self.pulls[number]
        base, head = repo.sha(pr.base) or "", repo.sha(pr.head) or ""
        tree = repo.git("merge-tree", "--write-tree", base, head).split()[0]
        env = {
            "GIT_AUTHOR_NAME": login,
            "GIT_AUTHOR_EMAIL": f"{login}@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
            "PATH": "/usr/bin:/bin",
        }
        message = f"Merge pull request #{number} from {repo.owner}/{pr.head}\n\n{pr.title}\n".encode()
        merged = (
            subprocess.run(
                ["git", "-C", str(repo.bare), "commit-tree", tree, "-p", base, "-p", head],
                input=message,
                env=env,
                check=True,
                capture_output=True,
            )
            .stdout.decode()
            .strip()
        )
        repo.git("update-ref", f"refs/heads/{pr.base}", merged, base)
        pr.state, pr.merged, pr.merge_commit_sha, pr.updated_at = "closed", True, merged, self._now()
        self._emit("pull_request", "closed", repo, {"action": "closed", "number": number, **self._base(pr, login)})
        return merged

    def close(self: GitHubEmulator, number: int, login: str) -> None:
        repo, pr = self.default, self.pulls[number]
        pr.state, pr.updated_at = "closed", self._now()
        self._emit("pull_request", "closed", repo, {"action": "closed", "number": number, **self._base(pr, login)})

    def check_run(self: GitHubEmulator, number: int, name: str, conclusion: str, summary: str) -> None:
        """CI finished on the pull request's head."""
        repo, pr = self.default, self.pulls[number]
        head, run_id = repo.sha(pr.head), repo.take_id()
        objects = self._web()
        check = webhooks.template("check_run")["check_run"]
        branch_repo = {"id": 1, "url": f"{self.url}/repos/{repo.full_name}", "name": repo.name}
        check.update(
            id=run_id,
            name=name,
            head_sha=head,
            status="completed",
            conclusion=conclusion,
            details_url=f"{self.url}/{repo.full_name}/actions/runs/{run_id}",
            output={**check["output"], "title": f"{name}: {conclusion}", "summary": summary},
            pull_requests=[
                {
                    "url": f"{self.url}/repos/{repo.full_name}/pulls/{number}",
                    "id": number,
                    "number": number,
                    "head": {"ref": pr.head, "sha": head, "repo": branch_repo},
                    "base": {"ref": pr.base, "sha": repo.sha(pr.base), "repo": branch_repo},
                }
            ],
        )
        payload = {
            "action": "completed",
            "check_run": check,
            "repository": objects.repository(repo),
            "sender": objects.user("github-actions[bot]"),
        }
        self._emit("check_run", "completed", repo, payload)

    def deploy(self: GitHubEmulator, sha: str, environment: str = "production", state: str = "success") -> None:
        """A deployment of ``sha`` reached ``state`` (Actions' ``environment:``, Argo CD's GitHub integration...)."""
        repo, objects = self.default, self._web()
        deployment_id, status_id = repo.take_id(), repo.take_id()
        payload = webhooks.template("deployment_status")
        api = f"{self.url}/repos/{repo.full_name}"
        deployer = objects.user("github-actions[bot]")
        payload["deployment"].update(
            id=deployment_id,
            url=f"{api}/deployments/{deployment_id}",
            sha=sha,
            ref=repo.default_branch,
            environment=environment,
            original_environment=environment,
            creator=deployer,
            statuses_url=f"{api}/deployments/{deployment_id}/statuses",
            repository_url=api,
        )
        payload["deployment_status"].update(
            id=status_id,
            url=f"{api}/deployments/{deployment_id}/statuses/{status_id}",
            state=state,
            environment=environment,
            creator=deployer,
            deployment_url=f"{api}/deployments/{deployment_id}",
            repository_url=api,
        )
        payload.update(repository=objects.repository(repo), sender=deployer)
        self._emit("deployment_status", "created", repo, payload)

    # -- the calls the review loop makes back ----------------------------------------------------

    def _issue(self: GitHubEmulator, repo: Repo, pr: PullRecord) -> dict[str, Any]:
        issue = webhooks.template("issue_comment")["issue"]
        objects = self._web()
        api = f"{self.url}/repos/{repo.full_name}"
        issue.update(
            id=pr.number,
            number=pr.number,
            title=pr.title,
            body=pr.body,
            state="open" if pr.state == "open" else "closed",
            user=objects.user(pr.user),
            url=f"{api}/issues/{pr.number}",
            html_url=f"{self.url}/{repo.full_name}/pull/{pr.number}",
            repository_url=api,
            comments_url=f"{api}/issues/{pr.number}/comments",
            comments=len(pr.comments),
            labels=[objects.label(repo, name) for name in pr.labels],
            pull_request={
                "url": f"{api}/pulls/{pr.number}",
                "html_url": f"{self.url}/{repo.full_name}/pull/{pr.number}",
                "diff_url": f"{self.url}/{repo.full_name}/pull/{pr.number}.diff",
                "patch_url": f"{self.url}/{repo.full_name}/pull/{pr.number}.patch",
            },
        )
        return issue

    def _find_comment(self: GitHubEmulator, repo: Repo, comment_id: int) -> tuple[int, Comment] | None:
        for number, pr in repo.pulls.items():
            for comment in pr.comments:
                if comment.id == comment_id:
                    return number, comment
        return None

    async def get_issue(self: GitHubEmulator, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        pr = repo.pulls.get(request.path_params["number"])
        if pr is None:
            return self._error(request, 404, "Not Found")
        return self._send(request, 200, self._issue(repo, pr))

    async def get_issue_comment(self: GitHubEmulator, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        found = self._find_comment(repo, request.path_params["comment"])
        if found is None:
            return self._error(request, 404, "Not Found")
        return self._send(request, 200, self._objects(request).comment(repo, *found))

    async def add_reaction(self: GitHubEmulator, request: Request, repo: Repo | None) -> Response:
        assert repo is not None
        wanted = request.path_params["comment"]
        if self._find_comment(repo, wanted) is None:
            return self._error(request, 404, "Not Found")
        content = str((await request.json()).get("content"))
        self.reactions.append((wanted, content, BOT))
        reaction = {
            "id": repo.take_id(),
            "node_id": f"REA_{wanted}",
            "user": self._objects(request).user(BOT),
            "content": content,
            "created_at": self._now(),
        }
        return self._send(request, 201, reaction)

    async def permission(self: GitHubEmulator, request: Request, repo: Repo | None) -> Response:
        login = request.path_params["login"]
        level = self.permissions.get(login, "read")
        user = self._objects(request).user(login)
        return self._send(request, 200, {"permission": level, "role_name": level, "user": user})
