"""GitHub's JSON objects for the emulator's state, built from the REST description's own examples."""

from __future__ import annotations

import zlib
from typing import Any

from tests.github_emulator import graphql, schemas
from tests.github_emulator.state import Comment, PullRecord, Repo, Review, ReviewComment

ZERO_SHA = "0" * 40


def _id(text: str) -> int:
    return zlib.crc32(text.encode()) % 10_000_000 + 1  # stable across runs, unlike hash()


class Objects:
    """Renders state as GitHub does, with every URL pointing back at the emulator (``web``/``api``)."""

    def __init__(self, web: str, api: str) -> None:
        self.web = web
        self.api = api

    def user(self, login: str) -> dict[str, Any]:
        user = schemas.example("pull-request")["user"]
        user.update(
            {
                "login": login,
                "id": _id(login),
                "url": f"{self.api}/users/{login}",
                "html_url": f"{self.web}/{login}",
                "type": "Bot" if login.endswith("[bot]") else "User",
            }
        )
        return user

    def repository(self, repo: Repo) -> dict[str, Any]:
        data = schemas.example("full-repository-default-response")
        data.update(
            {
                "id": _id(repo.full_name),
                "name": repo.name,
                "full_name": repo.full_name,
                "default_branch": repo.default_branch,
                "private": True,
                "url": f"{self.api}/repos/{repo.full_name}",
                "html_url": f"{self.web}/{repo.full_name}",
                "clone_url": f"{self.web}/{repo.full_name}.git",
                "git_url": f"git:{self.web.split(':', 1)[1]}/{repo.full_name}.git",
                "language": "Python",
            }
        )
        data["owner"] = self.user(repo.owner)
        # Not required, and the example's copies lack fields the schema requires: a fork's parents.
        for key in ("source", "parent", "template_repository"):
            data.pop(key, None)
        return data

    def pull(self, repo: Repo, pr: PullRecord, *, simple: bool = False) -> dict[str, Any]:
        data = schemas.example("pull-request-simple-items")[0] if simple else schemas.example("pull-request")
        api = f"{self.api}/repos/{repo.full_name}"
        heads = repo.refs("refs/heads/")
        head_sha = heads.get(f"refs/heads/{pr.head}", ZERO_SHA)
        data.update(
            {
                "url": f"{api}/pulls/{pr.number}",
                "id": _id(f"{repo.full_name}#{pr.number}"),
                "node_id": graphql.node_id(repo.full_name, pr.number),
                "html_url": f"{self.web}/{repo.full_name}/pull/{pr.number}",
                "number": pr.number,
                "state": "closed" if pr.merged else pr.state,
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
                "statuses_url": f"{api}/statuses/{head_sha}",
                "labels": [self.label(repo, name) for name in pr.labels],
                "requested_teams": [],
                "requested_reviewers": [],
                "assignee": None,
                "assignees": [],
                "milestone": None,
                "user": self.user(pr.user),
            }
        )
        repository, owner = self.repository(repo), self.user(repo.owner)  # shared by head and base
        for side, branch in (("head", pr.head), ("base", pr.base)):
            sha = heads.get(f"refs/heads/{branch}", ZERO_SHA)
            data[side].update({"ref": branch, "sha": sha, "label": f"{repo.owner}:{branch}"})
            data[side]["repo"] = repository
            data[side]["user"] = owner
        if not simple:
            data.update(
                {
                    "merged": pr.merged,
                    "mergeable": None if pr.state != "open" else True,
                    "comments": len(pr.comments),
                    "review_comments": len(pr.review_comments),
                    "merged_by": self.user("ana") if pr.merged else None,
                }
            )
        return data

    def label(self, repo: Repo, name: str) -> dict[str, Any]:
        label = schemas.example("label-items")[0]
        label.update({"name": name, "url": f"{self.api}/repos/{repo.full_name}/labels/{name}", "id": _id(name)})
        return label

    def comment(self, repo: Repo, number: int, comment: Comment) -> dict[str, Any]:
        data = schemas.example("issue-comment")
        api = f"{self.api}/repos/{repo.full_name}"
        data.update(
            {
                "id": comment.id,
                "url": f"{api}/issues/comments/{comment.id}",
                "html_url": f"{self.web}/{repo.full_name}/pull/{number}#issuecomment-{comment.id}",
                "issue_url": f"{api}/issues/{number}",
                "body": comment.body,
                "user": self.user(comment.user),
                "created_at": comment.created_at,
                "updated_at": comment.created_at,
            }
        )
        return data

    def review(self, repo: Repo, number: int, review: Review) -> dict[str, Any]:
        data = schemas.example("pull-request-review-items")[0]
        html = f"{self.web}/{repo.full_name}/pull/{number}#pullrequestreview-{review.id}"
        pull = f"{self.api}/repos/{repo.full_name}/pulls/{number}"
        data.update(
            {
                "id": review.id,
                "user": self.user(review.user),
                "body": review.body,
                "state": review.state,
                "html_url": html,
                "pull_request_url": pull,
                "_links": {"html": {"href": html}, "pull_request": {"href": pull}},
                "submitted_at": review.submitted_at,
                "commit_id": review.commit_id,
            }
        )
        return data

    def review_comment(self, repo: Repo, number: int, comment: ReviewComment) -> dict[str, Any]:
        data = schemas.example("pull-request-review-comment-items")[0]
        api = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}/pull/{number}#discussion_r{comment.id}"
        data.update(
            {
                "url": f"{api}/pulls/comments/{comment.id}",
                "id": comment.id,
                "path": comment.path,
                "line": comment.line,
                "commit_id": comment.commit_id,
                "original_commit_id": comment.commit_id,
                "user": self.user(comment.user),
                "body": comment.body,
                "created_at": comment.created_at,
                "updated_at": comment.created_at,
                "html_url": html,
                "pull_request_url": f"{api}/pulls/{number}",
            }
        )
        data.pop("in_reply_to_id", None)
        data["_links"] = {
            "self": {"href": data["url"]},
            "html": {"href": html},
            "pull_request": {"href": f"{api}/pulls/{number}"},
        }
        return data

    def ref(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        data = schemas.example("git-ref")
        data.update({"ref": name, "url": f"{self.api}/repos/{repo.full_name}/git/{name}"})
        data["object"] = {"type": "commit", "sha": sha, "url": f"{self.api}/repos/{repo.full_name}/git/commits/{sha}"}
        return data

    def branch(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        data = schemas.example("branch-get")
        api = f"{self.api}/repos/{repo.full_name}"
        data["name"] = name
        data["commit"].update(
            {
                "sha": sha,
                "url": f"{api}/commits/{sha}",
                "html_url": f"{self.web}/{repo.full_name}/commit/{sha}",
                "comments_url": f"{api}/commits/{sha}/comments",
                "parents": [],
            }
        )
        data["commit"]["commit"]["url"] = f"{api}/git/commits/{sha}"
        data["_links"] = {"self": f"{api}/branches/{name}", "html": f"{self.web}/{repo.full_name}/tree/{name}"}
        data["protected"] = False
        data["protection_url"] = f"{api}/branches/{name}/protection"
        return data
