"""Where notifications may go: never loopback, link-local or cloud-metadata addresses unless a channel allows it.

A channel URL is checked twice: at load, when its host is an address literal (or ``localhost``),
and at every send, after DNS resolution, so a name that resolves to ``169.254.169.254`` or
``127.0.0.1`` is refused too. The send then connects to the address that was checked (the
``Host`` header and TLS server name stay the URL's), so the name cannot be re-resolved elsewhere
in between. ``allow_private = true`` on a channel turns both checks off for it.
"""

from __future__ import annotations

import socket
from ipaddress import IPv6Address, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from server.errors import DestinationRefused

_BLOCKED = (
    (ip_network("127.0.0.0/8"), "a loopback address"),
    (ip_network("::1/128"), "a loopback address"),
    (ip_network("0.0.0.0/8"), "an unspecified address (it reaches this machine)"),
    (ip_network("::/128"), "an unspecified address (it reaches this machine)"),
    (ip_network("169.254.0.0/16"), "a link-local address (cloud metadata lives at 169.254.169.254)"),
    (ip_network("fe80::/10"), "a link-local address"),
    (ip_network("fd00::/8"), "in fd00::/8, where cloud metadata lives (fd00:ec2::254)"),
)
ALLOW_HINT = "set allow_private = true on the channel if this destination is meant"


def blocked_reason(address: str) -> str | None:
    """Why ``address`` (an IP literal) may not be a destination, or None when it may."""
    ip = ip_address(address.split("%", 1)[0])
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network, reason in _BLOCKED:
        if ip.version == network.version and ip in network:
            return f"{ip} is {reason}"
    return None


def literal_problem(url: str) -> str | None:
    """The reason a URL's literal host is refused (checked at load), or None for a name or an allowed address."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    try:
        return blocked_reason(host)
    except ValueError:
        return None  # a DNS name: checked after resolution, at send time


def pinned(url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` rewritten to the address its host resolves to, after checking every address it resolves to.

    Returns the URL to request, the headers that keep the original name (``Host``), and the httpx
    extensions that keep it for TLS (``sni_hostname``). Raises ``DestinationRefused``.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise DestinationRefused("the notification URL has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DestinationRefused(f"{host} does not resolve ({exc.strerror or exc})") from exc
    addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        reason = blocked_reason(address)
        if reason:
            raise DestinationRefused(f"{host} resolves to {address}: {reason}; {ALLOW_HINT}")
    chosen = addresses[0].split("%", 1)[0]
    userinfo, _, authority = parts.netloc.rpartition("@")
    netloc = f"[{chosen}]" if ":" in chosen else chosen
    if parts.port:
        netloc += f":{parts.port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc)), {"host": authority}, {"sni_hostname": host}
