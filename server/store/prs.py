"""The local forge's pull requests, kept in the store (fixer.forge_local.PullRequestRecords)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from fixer.forge import PullRequestDraft
from fixer.forge_local import Comment, LocalPullRequest
from server.store import Store
from server.store.prs_schema import local_pr_comments, local_pull_requests
from server.store.rows import AnyRow

_UPDATABLE = {"title", "body", "state", "draft", "head_sha", "merge_commit", "labels", "extra"}


def _model(row: AnyRow) -> LocalPullRequest:
    return LocalPullRequest(
        number=row.number,
        url=f"local://{row.repo}/pull/{row.number}",
        title=row.title,
        body=row.body,
        state=row.state,
        draft=row.draft,
        head=row.head,
        base=row.base,
        head_sha=row.head_sha,
        labels=list(row.labels or []),
        incident_id=row.incident_id,
        repo=row.repo,
        merge_commit=row.merge_commit,
        created_at=row.created_at,
        updated_at=row.updated_at,
        extra=dict(row.extra or {}),
    )


class StorePullRequests:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, repo: str, draft: PullRequestDraft, head_sha: str, url_for: str) -> LocalPullRequest:
        now = self.store.clock.now()
        with self.store.write() as connection:
            number = connection.execute(
                insert(local_pull_requests)
                .values(
                    repo=repo,
                    incident_id=draft.incident_id,
                    title=draft.title,
                    body=draft.body,
                    state="open",
                    draft=draft.draft,
                    head=draft.head,
                    base=draft.base,
                    head_sha=head_sha,
                    labels=draft.labels,
                    extra={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(local_pull_requests.c.number)
            ).scalar_one()
            row = connection.execute(select(local_pull_requests).where(local_pull_requests.c.number == number)).one()
        return _model(row)

    def get(self, number: int) -> LocalPullRequest | None:
        with self.store.read() as connection:
            row = connection.execute(select(local_pull_requests).where(local_pull_requests.c.number == number)).first()
        return _model(row) if row is not None else None

    def find_open(self, repo: str, incident_id: str, branch: str) -> LocalPullRequest | None:
        table = local_pull_requests
        with self.store.read() as connection:
            row = connection.execute(
                select(table)
                .where(table.c.repo == repo, table.c.state == "open")
                .where((table.c.incident_id == incident_id) | (table.c.head == branch))
                .order_by(table.c.number)
            ).first()
        return _model(row) if row is not None else None

    def update(self, number: int, **fields: Any) -> LocalPullRequest:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        with self.store.write() as connection:
            connection.execute(
                update(local_pull_requests)
                .where(local_pull_requests.c.number == number)
                .values(**fields, updated_at=self.store.clock.now())
            )
            row = connection.execute(select(local_pull_requests).where(local_pull_requests.c.number == number)).one()
        return _model(row)

    def list_prs(self, repo: str | None = None, state: str | None = None) -> list[LocalPullRequest]:
        query = select(local_pull_requests).order_by(local_pull_requests.c.number)
        if repo is not None:
            query = query.where(local_pull_requests.c.repo == repo)
        if state is not None:
            query = query.where(local_pull_requests.c.state == state)
        with self.store.read() as connection:
            return [_model(row) for row in connection.execute(query)]

    def add_comment(self, number: int, author: str, body: str) -> None:
        with self.store.write() as connection:
            connection.execute(
                insert(local_pr_comments).values(
                    number=number, author=author, body=body, extra={}, at=self.store.clock.now()
                )
            )

    def comments(self, number: int) -> list[Comment]:
        with self.store.read() as connection:
            rows = connection.execute(
                select(local_pr_comments).where(local_pr_comments.c.number == number).order_by(local_pr_comments.c.id)
            ).all()
        return [Comment(author=row.author, body=row.body, at=row.at) for row in rows]

    def count(self) -> int:
        with self.store.read() as connection:
            return int(connection.execute(select(func.count()).select_from(local_pull_requests)).scalar_one())
