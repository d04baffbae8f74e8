"""One delivery in, alerts out: find the source by name, verify the raw bytes, then parse.

The REST face calls ``AlertIntake.receive`` from ``POST /alerts/{name}`` with the request's
headers and raw body, and maps our errors to 401 / 404 / 422 / 503 in its one handler.
"""

from __future__ import annotations

from collections.abc import Mapping

from server.common.clock import Clock, SystemClock
from server.intake.sources import SOURCES
from server.intake.sources.base import ParsedDelivery, SourceConfig, VerifyContext
from server.intake.sources.errors import SourceNotFound
from server.intake.sources.payload import decode_object
from server.intake.sources.sns import CertificateCache, UrlFetcher, confirm_subscription


class AlertIntake:
    """The configured sources, with the collaborators verification needs (clock, certificate fetcher)."""

    def __init__(
        self,
        sources: Mapping[str, SourceConfig],
        *,
        fetch: UrlFetcher,
        clock: Clock | None = None,
    ) -> None:
        self.sources = dict(sources)
        self._fetch = fetch
        self._certificates = CertificateCache(fetch)
        self._clock = clock or SystemClock()

    def may_fetch(self, name: str) -> bool:
        """Whether a delivery to ``name`` can make a network fetch (an SNS certificate or confirmation): the
        REST face then verifies it off the event loop, so a slow certificate host stalls no other request."""
        config = self.sources.get(name)
        return config is not None and config.type == "cloudwatch"

    def receive(self, name: str, headers: Mapping[str, str], body: bytes) -> ParsedDelivery:
        """Verify and parse one delivery to ``/alerts/<name>``."""
        config = self.sources.get(name)
        if config is None:
            raise SourceNotFound(name, self.sources)
        source = SOURCES[config.type]
        lowered = {key.lower(): value for key, value in headers.items()}
        source.verify(lowered, body, config, VerifyContext(now=self._clock.now(), certificates=self._certificates))
        parsed = source.parse(decode_object(body, source_type=config.type), lowered, config)
        if config.delivery_id_header:
            header_id = lowered.get(config.delivery_id_header.lower())
            if header_id:
                parsed.delivery_id = header_id
        return parsed

    def confirm(self, parsed: ParsedDelivery) -> bool:
        """Make the GET a verified SNS SubscriptionConfirmation asks for; True when there was one."""
        if parsed.action is None:
            return False
        confirm_subscription(parsed.action.url, self._fetch)
        return True
