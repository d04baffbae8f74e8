"""The orders service: look orders up, with auth, pooling and caching."""

from __future__ import annotations

from datetime import datetime

from orders.auth import Token, verify
from orders.cache import OrderCache
from orders.db import ConnectionPool, PoolConfig, run_query

#: Production settings. The pool is shared by every request worker.
POOL = PoolConfig(size=10, acquire_timeout=2.0)


class OrderService:
    def __init__(self, key: bytes, pool: ConnectionPool | None = None) -> None:
        self.key = key
        self.pool = pool or ConnectionPool(POOL)
        self.cache = OrderCache(self._load)

    def _load(self, order_id: str) -> dict[str, object]:
        rows = run_query(self.pool, f"SELECT * FROM orders WHERE id = '{order_id}'")
        return {"id": order_id, "rows": len(rows)}

    def get_order(self, token: Token, order_id: str, now: datetime | None = None) -> dict[str, object]:
        verify(token, self.key, now)
        return self.cache.get(order_id)
