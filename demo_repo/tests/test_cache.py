from orders.cache import OrderCache


def test_cache_returns_loaded_orders_and_loads_once():
    loads = []
    cache = OrderCache(lambda order_id: loads.append(order_id) or {"id": order_id})
    assert cache.get("a") == {"id": "a"}
    assert cache.get("a") == {"id": "a"}
    assert loads == ["a"]


def test_cache_is_bounded():
    cache = OrderCache(lambda order_id: {"id": order_id}, max_entries=100)
    for n in range(5000):
        cache.get(f"order-{n}")
    # Every distinct order read must not stay in memory forever.
    assert len(cache) <= 100
    assert cache.get("order-4999") == {"id": "order-4999"}
