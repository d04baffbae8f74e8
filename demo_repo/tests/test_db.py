import pytest

from orders.db import ConnectionPool, PoolConfig, PoolExhaustedError, run_query


def test_pool_serves_queries():
    pool = ConnectionPool(PoolConfig(size=2, acquire_timeout=0.05))
    for _ in range(10):
        assert run_query(pool, "SELECT 1") == [(1,)]
    assert pool.in_use == 0


def test_pool_recovers_after_failed_queries():
    pool = ConnectionPool(PoolConfig(size=2, acquire_timeout=0.05))
    for _ in range(2):
        with pytest.raises(RuntimeError, match="query failed"):
            run_query(pool, "SELECT FAIL")
    # A failed query must give its connection back; otherwise the pool runs dry.
    assert run_query(pool, "SELECT 1") == [(1,)]
    assert pool.in_use == 0


def test_pool_times_out_when_all_connections_are_busy():
    pool = ConnectionPool(PoolConfig(size=1, acquire_timeout=0.05))
    held = pool.acquire()
    with pytest.raises(PoolExhaustedError, match="pool size 1"):
        pool.acquire()
    pool.release(held)
