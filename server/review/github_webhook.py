"""GitHub webhooks: verified, recorded durably, then translated into the review loop's events.

The receiver checks ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body, constant-time) before
reading anything, records the delivery under ``X-GitHub-Delivery`` (a redelivery is answered and
not processed again) and only then answers; ``process_pending`` applies what was recorded, each
delivery in one transaction with its "processed" mark, so a crash between the answer and the
processing loses nothing and processes nothing twice. Events for pull requests the bot did not
open, from the bot itself, or of kinds the loop does not use are recorded and ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from fixer.forge import marked_incident
from fixer.workspace import BRANCH_PREFIX
from server.config import HealerConfig
from server.errors import HealerError, WebhookNotConfigured, WebhookUnauthorized
from server.intake.sources.auth import sha256_signature_matches
from server.review.deployments import DeploymentIn
from server.review.reviews import ForgeActions, ReviewEvent, after, apply_in
from server.store import Store
from server.store.reviews_schema import github_deliveries
from server.store.rows import public_id
from server.store.schema import incidents

log = logging.getLogger(__name__)

BOT_LOGINS = frozenset({"devops-healer[bot]"})
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
DEFAULT_TRUSTED = ("coderabbitai[bot]",)
COMMANDS = {"/healer retry": "retry", "/healer stop": "stop", "/healer explain": "explain"}


def verify(secret: SecretStr | None, body: bytes, signature: str | None) -> None:
    if secret is None or not secret.get_secret_value():
        raise WebhookNotConfigured()
    if not signature or not signature.startswith("sha256="):
        raise WebhookUnauthorized("missing X-Hub-Signature-256; the delivery was not recorded")
    if not sha256_signature_matches(secret, body, signature):
        raise WebhookUnauthorized("X-Hub-Signature-256 does not match the body; the delivery was not recorded")


def record(store: Store, delivery_id: str, event: str, payload: dict[str, Any]) -> bool:
    """Store the delivery before answering; False when it was already recorded (a redelivery)."""
    try:
        with store.write() as connection:
            connection.execute(
                insert(github_deliveries).values(
                    delivery_id=delivery_id[:100], event=event[:64], payload=payload, received_at=store.clock.now()
                )
            )
    except IntegrityError:
        return False
    return True


class Translator:
    """GitHub payloads -> ReviewEvents, for the repositories healer.toml maps to GitHub."""

    def __init__(
        self,
        config: HealerConfig,
        can_write: Callable[[str, str], bool] | None = None,
        bot_logins: Collection[str] = BOT_LOGINS,
    ) -> None:
        self.bot_logins = frozenset(bot_logins)
        self.repos = {r.github_repo: name for name, r in config.repos.items() if r.github_repo}
        extra = config.model_extra or {}
        review = extra.get("review", {}) if isinstance(extra.get("review", {}), dict) else {}
        self.allowed = set(review.get("trusted_authors", DEFAULT_TRUSTED))
        self.can_write = can_write
        self._write_access: dict[tuple[str, str], tuple[float, bool]] = {}

    def _trusted(self, payload: dict[str, Any], login: str, association: str | None) -> bool:
        """Whose findings an agent may take as tasks: the configured authors, and people with write access.

        GitHub's author_association says COLLABORATOR for read-only collaborators too, so it only rules
        outsiders out cheaply; write access itself is asked of the API (cached for five minutes)."""
        if login in self.allowed:
            return True
        if (association or "").upper() not in TRUSTED_ASSOCIATIONS:
            return False
        if self.can_write is None:
            return True
        repo = str((payload.get("repository") or {}).get("full_name"))
        now = time.monotonic()
        cached = self._write_access.get((repo, login))
        if cached is None or now - cached[0] > 300:
            cached = (now, self.can_write(repo, login))
            self._write_access[(repo, login)] = cached
        return cached[1]

    def _incident(
        self, connection: Connection, payload: dict[str, Any], number: int, head: str | None, body: str | None
    ) -> str | None:
        repo = self.repos.get(str((payload.get("repository") or {}).get("full_name")))
        if repo is None:
            return None
        if head and head.startswith(f"{BRANCH_PREFIX}INC-"):
            candidate = head.removeprefix(BRANCH_PREFIX)
        elif body and (marked := marked_incident(body)) is not None:
            candidate = marked
        else:
            row = connection.execute(
                select(incidents.c.pk, incidents.c.created_at).where(
                    incidents.c.repo == repo, incidents.c.pr_number == number
                )
            ).first()
            return public_id(row) if row is not None else None
        return candidate

    def events(self, connection: Connection, event: str, payload: dict[str, Any]) -> tuple[list[ReviewEvent], str]:
        sender = str((payload.get("sender") or {}).get("login", ""))
        if sender in self.bot_logins:
            return [], "ignored: sent by the bot itself"
        action = payload.get("action")
        pr = payload.get("pull_request") or {}
        if event == "ping":
            return [], "pong"
        if event in (
            "pull_request",
            "pull_request_review",
            "pull_request_review_comment",
            "pull_request_review_thread",
        ):
            number, head, body = pr.get("number"), (pr.get("head") or {}).get("ref"), pr.get("body")
            if not isinstance(number, int):
                return [], "ignored: no pull request"
            incident = self._incident(connection, payload, number, head, body)
            if incident is None:
                return [], "ignored: not a pull request devops-healer opened"
            base = {"incident_id": incident, "number": number, "head_sha": (pr.get("head") or {}).get("sha")}
            return self._pull_request_events(event, action, payload, sender, base), "ok"
        if event == "issue_comment" and action == "created":
            issue = payload.get("issue") or {}
            if not issue.get("pull_request"):
                return [], "ignored: a comment on an issue, not a pull request"
            text = str((payload.get("comment") or {}).get("body", "")).strip()
            command = next((name for prefix, name in COMMANDS.items() if text.startswith(prefix)), None)
            if command is None:
                return [], "ignored: not a /healer command"
            number = int(issue["number"])
            incident = self._incident(connection, payload, number, None, issue.get("body"))
            if incident is None:
                return [], "ignored: not a pull request devops-healer opened"
            repo = str((payload.get("repository") or {}).get("full_name"))
            allowed = self.can_write(repo, sender) if self.can_write is not None else False
            comment = payload.get("comment") or {}
            return [
                ReviewEvent(
                    kind="command",
                    incident_id=incident,
                    number=number,
                    actor=f"github:{sender}",
                    trusted=allowed,
                    command=command,
                    external_id=str(comment.get("id", "")),
                )
            ], "ok"
        if event in ("check_run", "check_suite") and action == "completed":
            check = payload.get(event) or {}
            out: list[ReviewEvent] = []
            for linked in check.get("pull_requests") or []:
                number = linked.get("number")
                incident = self._incident(connection, payload, number, (linked.get("head") or {}).get("ref"), None)
                if incident is None:
                    continue
                output = check.get("output") or {}
                name = check.get("name") or ((check.get("app") or {}).get("name")) or event
                out.append(
                    ReviewEvent(
                        kind="check",
                        incident_id=incident,
                        number=number,
                        actor=f"github:{sender}",
                        head_sha=check.get("head_sha"),
                        state=check.get("conclusion"),
                        name=str(name),
                        body=str(output.get("summary") or output.get("title") or check.get("conclusion") or ""),
                        url=check.get("details_url") or check.get("html_url"),
                    )
                )
            return out, "ok" if out else "ignored: no pull request devops-healer opened"
        log.debug("GitHub %s event ignored: the review loop does not use it", event)
        return [], f"ignored: {event} events are not used"

    def _pull_request_events(
        self, event: str, action: Any, payload: dict[str, Any], sender: str, base: dict[str, Any]
    ) -> list[ReviewEvent]:
        actor = f"github:{sender}"
        if event == "pull_request":
            pr = payload["pull_request"]
            if action == "closed":
                kind = "pr_merged" if pr.get("merged") else "pr_closed"
                merge_commit = pr.get("merge_commit_sha") if pr.get("merged") else None
                return [ReviewEvent(kind=kind, actor=actor, commit_sha=merge_commit, **base)]
            mapping = {
                "reopened": "pr_reopened",
                "synchronize": "pr_pushed",
                "ready_for_review": "pr_ready",
                "converted_to_draft": "pr_draft",
            }
            moved = mapping.get(str(action))
            if moved is None:
                return []
            head = payload.get("after") or base["head_sha"]
            return [
                ReviewEvent(kind=moved, actor=actor, trusted=sender in self.bot_logins, **{**base, "head_sha": head})
            ]
        if event == "pull_request_review":
            review = payload.get("review") or {}
            author = str((review.get("user") or {}).get("login", sender))
            trusted = self._trusted(payload, author, review.get("author_association"))
            verdict = "verdict_dismissed" if action == "dismissed" else "verdict" if action == "submitted" else None
            if verdict is None:
                return []
            return [
                ReviewEvent(
                    kind=verdict,
                    actor=f"github:{author}",
                    trusted=trusted,
                    state=review.get("state"),
                    commit_sha=review.get("commit_id"),
                    body=str(review.get("body") or ""),
                    external_id=str(review.get("id", "")),
                    url=review.get("html_url"),
                    **base,
                )
            ]
        if event == "pull_request_review_comment" and action == "created":
            comment = payload.get("comment") or {}
            author = str((comment.get("user") or {}).get("login", sender))
            thread = comment.get("in_reply_to_id") or comment.get("id")
            return [
                ReviewEvent(
                    kind="finding",
                    actor=f"github:{author}",
                    trusted=self._trusted(payload, author, comment.get("author_association")),
                    file=comment.get("path"),
                    line=comment.get("line") or comment.get("original_line"),
                    body=str(comment.get("body", "")),
                    commit_sha=comment.get("commit_id"),
                    url=comment.get("html_url"),
                    external_id=str(comment.get("id", "")),
                    thread_id=str(thread),
                    **base,
                )
            ]
        if event == "pull_request_review_thread" and action in ("resolved", "unresolved"):
            thread = payload.get("thread") or {}
            comments = thread.get("comments") or []
            first = comments[0] if comments else {}
            thread_id = first.get("in_reply_to_id") or first.get("id")
            return [
                ReviewEvent(kind="thread", actor=actor, thread_id=str(thread_id), resolved=action == "resolved", **base)
            ]
        return []


def deployment(payload: dict[str, Any]) -> DeploymentIn | None:
    """A ``deployment_status`` delivery as a deployment report; None when it is not one."""
    status = payload.get("deployment_status") or {}
    deployed = payload.get("deployment") or {}
    try:
        return DeploymentIn(
            repo=str((payload.get("repository") or {}).get("full_name", "")),
            sha=str(deployed.get("sha", "")),
            environment=str(status.get("environment") or deployed.get("environment") or ""),
            status=status.get("state"),
        )
    except ValidationError:
        return None


def process_pending(
    store: Store,
    translator: Translator,
    forge_for: Callable[[str], ForgeActions | None],
    limit: int = 100,
    *,
    deployed: Callable[[DeploymentIn, str], str] | None = None,
) -> int:
    """Apply recorded, unprocessed deliveries, oldest first; each with its mark in one transaction.

    A ``deployment_status`` delivery goes to ``deployed`` (``server.review.deployments``, which asks git and
    is idempotent) before its mark, in its own transactions."""
    done = 0
    with store.read() as connection:
        waiting = connection.execute(
            select(github_deliveries.c.id, github_deliveries.c.event)
            .where(github_deliveries.c.processed_at.is_(None))
            .order_by(github_deliveries.c.id)
            .limit(limit)
        ).all()
    for item in waiting:
        if item.event == "deployment_status":
            _process_deployment(store, item.id, translator, deployed)
            done += 1
            continue
        applied: list[tuple[ReviewEvent, str]] = []
        with store.write() as connection:
            row = connection.execute(select(github_deliveries).where(github_deliveries.c.id == item.id)).one()
            if row.processed_at is not None:
                continue
            try:
                events, outcome = translator.events(connection, row.event, row.payload)
                for event in events:
                    applied.append((event, apply_in(connection, event, store.clock.now())))
            except HealerError as exc:
                outcome = f"failed: {exc.message}"
            summary = "; ".join(result for _, result in applied) or outcome
            connection.execute(
                update(github_deliveries)
                .where(github_deliveries.c.id == row.id)
                .values(processed_at=store.clock.now(), outcome=summary[:2000])
            )
        for event, result in applied:
            after(store, event, result, forge_for(event.incident_id))
        log.debug("GitHub delivery %s processed: %s", item.id, summary)
        done += 1
    return done


def _process_deployment(
    store: Store, delivery: int, translator: Translator, deployed: Callable[[DeploymentIn, str], str] | None
) -> None:
    with store.read() as connection:
        row = connection.execute(select(github_deliveries).where(github_deliveries.c.id == delivery)).one()
    sender = str((row.payload.get("sender") or {}).get("login", ""))
    report = deployment(row.payload)
    if report is None:
        outcome = "ignored: not a deployment status with a repository, a full sha, an environment and a state"
    elif report.repo not in translator.repos:
        outcome = f"ignored: {report.repo} is not a repository of healer.toml"
    elif deployed is None:
        outcome = "ignored: deployments are not followed here"
    else:
        try:
            outcome = deployed(report.model_copy(update={"repo": translator.repos[report.repo]}), f"github:{sender}")
        except HealerError as exc:
            outcome = f"failed: {exc.message}"
    with store.write() as connection:
        connection.execute(
            update(github_deliveries)
            .where(github_deliveries.c.id == delivery, github_deliveries.c.processed_at.is_(None))
            .values(processed_at=store.clock.now(), outcome=outcome[:2000])
        )
