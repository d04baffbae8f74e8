"""Notification URLs may not reach loopback, link-local or cloud-metadata addresses unless the channel allows it."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from sqlalchemy import select

from server.config import HealerConfig, parse_config
from server.errors import ConfigError, DestinationRefused
from server.intake.reports import normalize
from server.models import IncidentIn, Status
from server.notify.config import load_notify
from server.notify.destinations import pinned
from server.notify.sender import Sender
from server.store import Store
from server.store.triage_schema import outbox_deliveries
from server.triage.worker import triage_received
from tests.conftest import FakeClock
from tests.receivers import receiver

REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://127.0.0.1:9000/hook",
    "http://127.1.2.3/hook",
    "https://[::1]/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://0.0.0.0:8080/",
    "http://localhost:8080/hook",
    "http://LOCALHOST/hook",
    "http://metadata.localhost/",
    "https://user:pw@169.254.169.254/",
]


def channels(url: str, **extra: Any) -> HealerConfig:
    return parse_config(
        {
            "notify": {
                "channels": {
                    "oncall": {"type": "slack", "url": url, **extra},
                    "audit": {
                        "type": "webhook",
                        "url": url,
                        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                        **extra,
                    },
                }
            }
        }
    )


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_private_literal_is_refused_at_load(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_notify(channels(url), {})
    assert "notify.channels." in refused.value.message and "allow_private = true" in refused.value.message
    assert "pw@" not in refused.value.message  # the URL may hold credentials: only its host is named


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_allow_private_lets_the_operator_opt_in(url: str) -> None:
    assert load_notify(channels(url, allow_private=True), {}).channels["oncall"].allow_private


def test_a_url_from_the_environment_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"169\.254\.169\.254"):
        load_notify(channels("env:HOOK_URL"), {"HOOK_URL": "http://169.254.169.254/"})


@pytest.mark.parametrize(
    "url", ["https://hooks.slack.com/services/T/B/X", "http://10.0.0.8/hook", "https://[2001:db8::1]/"]
)
def test_public_and_ordinary_private_network_urls_load(url: str) -> None:
    assert load_notify(channels(url), {}).channels["oncall"].url.get_secret_value() == url


def test_a_name_that_resolves_to_loopback_is_refused_at_send_time() -> None:
    with pytest.raises(DestinationRefused, match=r"resolves to .*loopback.*allow_private"):
        pinned("http://localhost:8080/hook")


def test_an_address_is_pinned_with_the_original_host_kept() -> None:
    url, headers, extensions = pinned("https://user:pw@[2001:db8::7]:8443/path?q=1")
    assert url == "https://user:pw@[2001:db8::7]:8443/path?q=1"
    assert headers == {"host": "[2001:db8::7]:8443"} and extensions == {"sni_hostname": "2001:db8::7"}


def _loopback_name() -> str | None:
    """A host name other than ``localhost`` that resolves to loopback here (the machine's own name often does)."""
    for name in (socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if name != "localhost" and addresses and all(a.startswith("127.") or a == "::1" for a in addresses):
            return name
    return None


def escalate(store: Store, clock: FakeClock, error: str) -> None:
    iid = store.ingest(normalize(IncidentIn(service="payments", error=error, severity="high"), HealerConfig())).id
    triage_received(store)
    clock.advance(seconds=1)
    if store.get(iid).status != Status.escalated:
        store.transition(iid, Status.escalated, actor="human:ana", detail={"why": "needs a DBA"})


def test_a_channel_whose_name_resolves_to_loopback_is_not_sent_to(store: Store, clock: FakeClock) -> None:
    name = _loopback_name()
    if name is None:
        pytest.skip("no host name other than localhost resolves to loopback on this machine")
    with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1]
        config = {"type": "slack", "url": f"http://{name}:{port}/hook"}
        sender = Sender(store, load_notify(parse_config({"notify": {"channels": {"oncall": config}}}), {}))
        escalate(store, clock, "pool exhausted")
        sender.run_once()
        assert hook.requests == []
        with store.read() as connection:
            rows = connection.execute(select(outbox_deliveries.c.state, outbox_deliveries.c.last_error)).all()
        assert rows and all(row.state == "failed" for row in rows)
        assert f"{name} resolves to 127." in rows[0].last_error and "allow_private" in rows[0].last_error
        opted_in = Sender(
            store,
            load_notify(parse_config({"notify": {"channels": {"oncall": {**config, "allow_private": True}}}}), {}),
        )
        escalate(store, clock, "disk full")
        opted_in.run_once()
        assert len(hook.requests) == 1
