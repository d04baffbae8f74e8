"""Webhook deliveries the way GitHub makes them: real payload shapes, signed, in order, one at a time.

Payloads start from real captured deliveries (tests/fixtures/github-webhooks, from
octokit/webhooks) and get this emulator's repository, pull request, users and ids. Each is
POSTed with ``X-GitHub-Event``, ``X-GitHub-Delivery`` and ``X-Hub-Signature-256`` (HMAC-SHA256
of the exact body) by one sender thread, in the order the events happened.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import threading
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"

TEMPLATES = {
    "pull_request": "pull_request/closed.payload.json",
    "pull_request_review": "pull_request_review/submitted.payload.json",
    "pull_request_review_comment": "pull_request_review_comment/created.payload.json",
    "issue_comment": "issue_comment/created.payload.json",
    "check_run": "check_run/completed.payload.json",
    "deployment_status": "deployment_status/payload.json",
}


@cache
def _template(event: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / TEMPLATES[event]).read_text())
    return data


def template(event: str) -> dict[str, Any]:
    return copy.deepcopy(_template(event))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Delivery:
    id: str
    event: str
    body: bytes
    status: int | None = None
    error: str | None = None


class WebhookSender:
    """Delivers in order on one thread; ``drain()`` waits until everything queued was answered."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.secret: str | None = None
        self.sent: list[Delivery] = []
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def configure(self, target: str, secret: str) -> None:
        self.target, self.secret = target, secret
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def send(self, event: str, payload: dict[str, Any]) -> Delivery | None:
        if self.target is None:
            return None
        delivery = Delivery(str(uuid.uuid4()), event, json.dumps(payload).encode())
        self.sent.append(delivery)
        self._queue.put(delivery)
        return delivery

    def redeliver(self, delivery: Delivery) -> Delivery:
        """GitHub's "Redeliver": the same id and body again."""
        again = Delivery(delivery.id, delivery.event, delivery.body)
        self.sent.append(again)
        self._queue.put(again)
        return again

    def drain(self, timeout: float = 30) -> None:
        done = threading.Event()
        self._queue.put(None)
        marker = self._queue

        def wait() -> None:
            marker.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError("webhook deliveries were not all answered in time")

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while True:
                delivery = self._queue.get()
                try:
                    if delivery is not None and self.target and self.secret:
                        headers = {
                            "Content-Type": "application/json",
                            "User-Agent": "GitHub-Hookshot/emulator",
                            "X-GitHub-Event": delivery.event,
                            "X-GitHub-Delivery": delivery.id,
                            "X-Hub-Signature-256": sign(self.secret, delivery.body),
                        }
                        try:
                            answer = client.post(self.target, content=delivery.body, headers=headers)
                            delivery.status = answer.status_code
                        except httpx.HTTPError as exc:
                            delivery.error = type(exc).__name__
                finally:
                    self._queue.task_done()
