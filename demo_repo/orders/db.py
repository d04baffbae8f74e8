"""A tiny connection pool in front of the orders database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("orders.db")


class PoolExhaustedError(RuntimeError):
    """No connection became free within the acquire timeout."""


@dataclass
class Connection:
    ident: int
    queries: list[str] = field(default_factory=list)

    def execute(self, sql: str) -> list[tuple[object, ...]]:
        if "FAIL" in sql:
            raise RuntimeError(f"query failed: {sql}")
        self.queries.append(sql)
        return [(1,)]


@dataclass
class PoolConfig:
    size: int = 10
    acquire_timeout: float = 2.0


class ConnectionPool:
    """Hands out at most ``size`` connections; waits up to ``acquire_timeout`` for one."""

    def __init__(self, config: PoolConfig | None = None) -> None:
        self.config = config or PoolConfig()
        self._free = [Connection(n) for n in range(self.config.size)]
        self._lock = threading.Condition()
        self.in_use = 0

    def acquire(self) -> Connection:
        deadline = time.monotonic() + self.config.acquire_timeout
        with self._lock:
            while not self._free:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.error(
                        "connection pool exhausted: size=%d in_use=%d waited=%.1fs",
                        self.config.size,
                        self.in_use,
                        self.config.acquire_timeout,
                    )
                    raise PoolExhaustedError(
                        f"no free connection after {self.config.acquire_timeout:.1f}s "
                        f"(pool size {self.config.size}, {self.in_use} in use)"
                    )
                self._lock.wait(remaining)
            self.in_use += 1
            return self._free.pop()

    def release(self, connection: Connection) -> None:
        with self._lock:
            self.in_use -= 1
            self._free.append(connection)
            self._lock.notify()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        conn = self.acquire()
        yield conn
        self.release(conn)


def run_query(pool: ConnectionPool, sql: str) -> list[tuple[object, ...]]:
    """Run one query on a pooled connection."""
    with pool.connection() as conn:
        return conn.execute(sql)
