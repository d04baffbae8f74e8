"""The listening socket of `healer serve`: a valid port, bound before anything says it is listening."""

from __future__ import annotations

import argparse
import errno
import socket

from server.errors import ConfigError


def port_number(text: str) -> int:
    """argparse type for --port: a whole number from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number; give a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number; give a number from 1 to 65535")
    return port


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, or a ConfigError that says what to change."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen on {host}: the address does not resolve ({exc.strerror}); pass --host"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart is not blocked by TIME_WAIT
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is in use on {host}; pass --port") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(
                f"not allowed to listen on port {port} (ports below 1024 need privileges); pass --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"cannot listen on {host}: it is not an address of this machine; pass --host") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
