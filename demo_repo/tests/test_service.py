from orders.db import ConnectionPool, PoolConfig
from orders.service import OrderService


def test_service_loads_orders_through_the_pool_and_cache():
    service = OrderService(b"k", ConnectionPool(PoolConfig(size=2, acquire_timeout=0.05)))
    assert service.cache.get("o-1") == {"id": "o-1", "rows": 1}
    assert service.cache.get("o-1") == {"id": "o-1", "rows": 1}
    assert service.pool.in_use == 0
