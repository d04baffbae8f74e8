"""The outbox sender: turns outbox rows into deliveries per channel and delivers them, at least once.

Each (event, channel) delivery is a row with its own message id, kept on every retry (the
Standard Webhooks ``webhook-id`` receivers deduplicate on). A failed send is retried with capped
exponential backoff; a 4xx other than 429 is final. Repeats of one (channel, incident, kind)
while a message for it waits, or within the channel's ``fold_seconds`` of the last one sent,
fold into the next message instead of being sent. Each channel keeps its own token bucket
(``rate_per_minute``, ``burst``); a delivery over the limit waits, it is never dropped. Both read
the store's clock. A sender killed between the commit and the send delivers after restart,
because only a 2xx marks a delivery done.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, func, insert, select, update

from server.common.redact import redact
from server.common.retry import backoff
from server.errors import DestinationRefused
from server.models import Category, Severity, Status
from server.notify.channel import Channel
from server.notify.config import NotifyConfig
from server.notify.destinations import pinned
from server.notify.events import EventKind, Links, NotificationEvent, http_link
from server.notify.registry import build_channel
from server.notify.routes import channels_for
from server.notify.storm import RateLimiter, fold_or_send
from server.store import Store
from server.store.triage_schema import outbox, outbox_deliveries

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
#: (url, headers, body, allow_private) -> HTTP status; raises DestinationRefused for a refused address.
Post = Callable[[str, dict[str, str], bytes, bool], int]


def http_post(timeout: float = 10.0) -> Post:
    client = httpx.Client(timeout=timeout, follow_redirects=False)

    def post(url: str, headers: dict[str, str], body: bytes, allow_private: bool) -> int:
        if allow_private:
            return client.post(url, headers=headers, content=body).status_code
        target, host, extensions = pinned(url)
        return client.post(target, headers={**headers, **host}, content=body, extensions=extensions).status_code

    return post


def _message_id(event_id: str, channel: str) -> str:
    return f"{event_id[:60]}_{re.sub(r'[^A-Za-z0-9_-]', '-', channel)[:30]}"


class Sender:
    def __init__(
        self,
        store: Store,
        config: NotifyConfig,
        *,
        public_url: str | None = None,
        post: Post | None = None,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.public_url = public_url.rstrip("/") if public_url else None
        self.post = post or http_post()
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter
        self.limiter = limiter or RateLimiter(
            {name: (c.rate_per_minute, c.burst) for name, c in config.channels.items()},
            clock=lambda: store.clock.now().timestamp(),
        )
        self.channels: dict[str, Channel] = {name: build_channel(name, c) for name, c in config.channels.items()}

    # -- expansion: one delivery row per channel ------------------------------------------------

    def expand(self, limit: int = 200) -> int:
        now = self.store.clock.now()
        with self.store.write() as connection:
            rows = connection.execute(
                select(outbox).where(outbox.c.expanded.is_(False)).order_by(outbox.c.id).limit(limit)
            ).all()
            for row in rows:
                event = self._event(row.payload, row.event_id)
                for channel in channels_for(event, self.config):
                    state = "pending"
                    if self._recently_sent(connection, channel, row.payload["incident_id"], row.kind, now):
                        state = "folded"
                    connection.execute(
                        insert(outbox_deliveries).values(
                            outbox_id=row.id,
                            channel=channel,
                            message_id=_message_id(row.event_id, channel),
                            state=state,
                            attempts=0,
                            next_attempt_at=now,
                        )
                    )
                connection.execute(update(outbox).where(outbox.c.id == row.id).values(expanded=True))
        return len(rows)

    def _recently_sent(self, connection: Any, channel: str, incident_id: str, kind: str, now: datetime) -> bool:
        """True when this (channel, incident, kind) has a message waiting, or one sent within ``fold_seconds``."""
        config = self.config.channels.get(channel)
        window = timedelta(seconds=config.fold_seconds if config is not None else 0)
        if window <= timedelta(0):
            return False
        same_key = and_(
            outbox_deliveries.c.channel == channel,
            outbox.c.kind == kind,
            outbox.c.payload["incident_id"].as_string() == incident_id,
        )
        joined = outbox_deliveries.join(outbox, outbox.c.id == outbox_deliveries.c.outbox_id)
        waiting = connection.execute(
            select(outbox_deliveries.c.id)
            .select_from(joined)
            .where(same_key, outbox_deliveries.c.state == "pending")
            .limit(1)
        ).first()
        if waiting is not None:
            return True  # the waiting message will carry this repeat
        return fold_or_send(self._last_delivered(connection, same_key), now, window) == "fold"

    @staticmethod
    def _last_delivered(connection: Any, same_key: Any) -> datetime | None:
        last: datetime | None = connection.execute(
            select(func.max(outbox_deliveries.c.delivered_at))
            .select_from(outbox_deliveries.join(outbox, outbox.c.id == outbox_deliveries.c.outbox_id))
            .where(same_key, outbox_deliveries.c.state == "delivered")
        ).scalar()
        return last

    # -- delivery --------------------------------------------------------------------------------

    def _event(self, payload: dict[str, Any], message_id: str, folded: int = 0) -> NotificationEvent:
        incident = payload["incident_id"]
        # The dashboard's incident page is where a person reads, approves and denies; without a
        # public URL there is no absolute link to give.
        page = f"{self.public_url}/ui/incidents/{incident}" if self.public_url else None
        asks = page is not None and payload["kind"] == EventKind.approval_needed.value
        links = Links(
            incident=page,
            pull_request=http_link(payload.get("pr_url")),
            runbook=http_link(payload.get("runbook")),
            dashboard=http_link(payload.get("dashboard")),
            approve=f"{page}#reason-approve" if asks else None,  # the ids of the page's approve and deny forms
            deny=f"{page}#reason-deny" if asks else None,
        )
        return NotificationEvent(
            id=message_id,
            kind=EventKind(payload["kind"]),
            incident_id=incident,
            # Redacted as it leaves: what was stored before the server held its secrets is covered too.
            title=redact(payload["title"]),
            service=redact(payload["service"]),
            severity=Severity(payload["severity"]),
            status=Status(payload["status"]),
            source=redact(payload["source"]),
            category=Category(payload["category"]) if payload.get("category") else None,
            summary=redact(payload["summary"]) if payload.get("summary") else None,
            detail=redact(payload["detail"]) if payload.get("detail") else None,
            occurrences=payload.get("occurrences") or 1,
            folded=folded,
            occurred_at=datetime.fromisoformat(payload["occurred_at"]),
            links=links,
        )

    def deliver_due(self, limit: int = 100) -> int:
        now = self.store.clock.now()
        with self.store.read() as connection:
            due = connection.execute(
                select(outbox_deliveries, outbox.c.payload, outbox.c.kind)
                .join(outbox, outbox.c.id == outbox_deliveries.c.outbox_id)
                .where(and_(outbox_deliveries.c.state == "pending", outbox_deliveries.c.next_attempt_at <= now))
                .order_by(outbox_deliveries.c.id)
                .limit(limit)
            ).all()
        sent = 0
        for row in due:
            channel = self.channels.get(row.channel)
            if channel is None:
                self._finish(row.id, "failed", f"channel {row.channel!r} is no longer configured", row.attempts)
                continue
            if not self.limiter.allow(row.channel):
                wait = self.limiter.retry_after(row.channel)
                self._later(row.id, row.attempts, now + timedelta(seconds=max(wait, 1.0)), "rate limited", count=False)
                continue
            folded = self._folded_since(row)
            request = channel.render(self._event(row.payload, row.message_id, folded), now=now)
            try:
                allow_private = self.config.channels[row.channel].allow_private
                status = self.post(request.url.get_secret_value(), request.headers, request.body, allow_private)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = 0, f"{type(exc).__name__}"
            except DestinationRefused as exc:
                status, error = 403, exc.message  # not retried: the address will not become allowed by waiting
            if error is None:
                self._finish(row.id, "delivered", None, row.attempts + 1, delivered_at=now)
                sent += 1
            elif 400 <= status < 500 and status != 429:
                self._finish(row.id, "failed", error, row.attempts + 1)
                log.warning("notification to %s refused (%s); not retried", row.channel, error)
            elif row.attempts + 1 >= MAX_ATTEMPTS:
                self._finish(row.id, "failed", error, row.attempts + 1)
                log.warning("notification to %s failed %d times; giving up", row.channel, MAX_ATTEMPTS)
            else:
                wait = backoff(row.attempts + 1, 5.0, 600.0, self.rng)
                self._later(row.id, row.attempts + 1, now + timedelta(seconds=wait), error, count=True)
        return sent

    def _folded_since(self, row: Any) -> int:
        """Repeats folded for this row's key since the last message sent for it (folded rows keep their fold time)."""
        same_key = and_(
            outbox_deliveries.c.channel == row.channel,
            outbox.c.kind == row.kind,
            outbox.c.payload["incident_id"].as_string() == row.payload["incident_id"],
        )
        with self.store.read() as connection:
            last = self._last_delivered(connection, same_key)
            query = (
                select(func.count())
                .select_from(outbox_deliveries.join(outbox, outbox.c.id == outbox_deliveries.c.outbox_id))
                .where(same_key, outbox_deliveries.c.state == "folded")
            )
            if last is not None:
                query = query.where(outbox_deliveries.c.next_attempt_at > last)
            return int(connection.execute(query).scalar_one())

    def _finish(
        self, ident: int, state: str, error: str | None, attempts: int, delivered_at: datetime | None = None
    ) -> None:
        with self.store.write() as connection:
            connection.execute(
                update(outbox_deliveries)
                .where(outbox_deliveries.c.id == ident)
                .values(
                    state=state,
                    last_error=redact(error) if error else None,
                    attempts=attempts,
                    delivered_at=delivered_at,
                )
            )

    def _later(self, ident: int, attempts: int, when: datetime, error: str | None, *, count: bool) -> None:
        with self.store.write() as connection:
            connection.execute(
                update(outbox_deliveries)
                .where(outbox_deliveries.c.id == ident)
                .values(next_attempt_at=when, last_error=redact(error) if error else None, attempts=attempts)
            )

    def run_once(self) -> int:
        self.expand()
        return self.deliver_due()

    async def run(self, interval: float = 1.0) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:
                log.exception("the notification sender failed; retrying")
            await asyncio.sleep(interval)
