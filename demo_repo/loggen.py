"""What monitoring sends about the orders service's known faults, produced by running them.

Each scenario runs the faulty code path in-process, catches what it raises (or measures what it
leaks), and emits it as an orchestrator would: the generic devops-healer `POST /incidents` body,
or an Alertmanager webhook. Standard library only.

    python loggen.py [--scenario pool|leak|auth|slow|all] [--format generic|alertmanager]
                     [--duplicate] [--url http://127.0.0.1:8080] [--token TOKEN]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import traceback
import tracemalloc
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from orders.auth import sign  # noqa: E402
from orders.cache import OrderCache  # noqa: E402
from orders.db import ConnectionPool, PoolConfig, run_query  # noqa: E402
from orders.service import OrderService  # noqa: E402

SERVICE = "orders"
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def _now() -> str:
    return datetime.now(UTC).strftime(STAMP)


def _log_line(level: str, logger: str, message: str) -> str:
    return f"{_now()} {level:<5} [{logger}] {message}"


def pool_scenario() -> dict[str, object]:
    """Two failing queries leak their connections; the next request finds the pool empty."""
    logging.disable(logging.CRITICAL)
    service = OrderService(b"demo", ConnectionPool(PoolConfig(size=2, acquire_timeout=0.05)))
    for _ in range(2):
        try:
            run_query(service.pool, "SELECT FAIL FROM orders")
        except RuntimeError:
            pass
    try:
        service.cache.get("ord-1042")
    except Exception as exc:  # the PoolExhaustedError monitoring saw
        trace = "".join(traceback.format_exception(exc))
        error = f"{type(exc).__name__}: {exc}"
    else:
        raise SystemExit("the pool scenario did not fail: is the fault already fixed?")
    logging.disable(logging.NOTSET)
    return {
        "key": "pool",
        "title": "orders: connection pool exhausted",
        "error": error,
        "severity": "critical",
        "log": "\n".join(
            [
                _log_line("ERROR", "orders.db", "query failed: SELECT FAIL FROM orders"),
                _log_line("ERROR", "orders.db", "query failed: SELECT FAIL FROM orders"),
                _log_line("ERROR", "orders.db", "connection pool exhausted: size=2 in_use=2 waited=0.1s"),
                trace,
            ]
        ),
        "stack_trace": trace,
        "affected_file": "orders/db.py",
        "labels": {"alertname": "OrdersPoolExhausted", "team": "checkout", "env": "prod"},
    }


def leak_scenario() -> dict[str, object]:
    """Distinct order reads stay in the cache forever; tracemalloc shows where the memory goes."""
    tracemalloc.start(25)
    cache = OrderCache(lambda order_id: {"id": order_id, "items": [0] * 20}, max_entries=1000)
    for n in range(20_000):
        cache.get(f"ord-{n}")
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    top = snapshot.filter_traces([tracemalloc.Filter(True, "*orders/cache.py")]).statistics("traceback")[0]
    frames = "".join(
        f'  File "{frame.filename}", line {frame.lineno}, in get\n' for frame in list(top.traceback)[-1:]
    )
    trace = "Traceback (most recent call last):\n" + frames + "MemoryError: orders cache holds entries past max_entries"
    size = len(cache)
    message = (
        f"orders cache holds {size} entries (max_entries=1000); {top.size / 1024 / 1024:.1f} MiB allocated "
        f"at orders/cache.py:{top.traceback[-1].lineno}"
    )
    return {
        "key": "leak",
        "title": "orders: memory grows without bound (cache)",
        "error": f"MemoryError: {message}",
        "severity": "high",
        "log": "\n".join(
            [
                _log_line("WARN", "orders.cache", message),
                _log_line("ERROR", "kubelet", "container orders memory 1.9Gi of 2Gi limit; restart expected (OOMKilled)"),
                trace,
            ]
        ),
        "stack_trace": trace,
        "affected_file": "orders/cache.py",
        "labels": {"alertname": "OrdersMemoryGrowth", "team": "checkout", "env": "prod"},
    }


def auth_scenario() -> dict[str, object]:
    """A token valid for another hour is refused as expired."""
    logging.disable(logging.CRITICAL)
    service = OrderService(b"demo")
    now = datetime.now(UTC)
    token = sign("checkout", now + timedelta(hours=1), b"demo")
    try:
        service.get_order(token, "ord-7", now)
    except Exception as exc:
        trace = "".join(traceback.format_exception(exc))
        error = f"{type(exc).__name__}: {exc}"
    else:
        raise SystemExit("the auth scenario did not fail: is the fault already fixed?")
    logging.disable(logging.NOTSET)
    return {
        "key": "auth",
        "title": "orders: valid service tokens rejected as expired",
        "error": error,
        "severity": "high",
        "log": "\n".join(
            [
                _log_line("WARN", "orders.auth", f"rejected expired token for checkout (expired {token.expires_at.isoformat()})"),
                _log_line("ERROR", "orders.api", "GET /orders/ord-7 401 Unauthorized client=checkout"),
                trace,
            ]
        ),
        "stack_trace": trace,
        "affected_file": "orders/auth.py",
        "labels": {"alertname": "OrdersAuthFailures", "team": "checkout", "env": "prod"},
    }


def slow_scenario() -> dict[str, object]:
    """A slow query warning: low severity, watched rather than fixed."""
    return {
        "key": "slow",
        "title": "orders: slow query on order history",
        "error": "slow query: SELECT * FROM order_history took 1.8s (threshold 1s)",
        "severity": "low",
        "log": _log_line("WARN", "orders.db", "slow query: SELECT * FROM order_history took 1.8s (threshold 1s)"),
        "labels": {"alertname": "OrdersSlowQuery", "team": "checkout", "env": "prod"},
    }


SCENARIOS = {"pool": pool_scenario, "leak": leak_scenario, "auth": auth_scenario, "slow": slow_scenario}


def generic(event: dict[str, object]) -> dict[str, object]:
    """The devops-healer POST /incidents body."""
    body = {key: event[key] for key in ("title", "error", "severity", "log", "labels") if key in event}
    body.update({"service": SERVICE, "source": "loggen"})
    for key in ("stack_trace", "affected_file"):
        if key in event:
            body[key] = event[key]
    return body


def alertmanager(events: list[dict[str, object]]) -> dict[str, object]:
    """An Alertmanager webhook (version 4) with one firing alert per event."""
    alerts = []
    for event in events:
        labels = {"alertname": str(event["labels"]["alertname"]), "service": SERVICE,  # type: ignore[index]
                  "severity": str(event["severity"]), "instance": "orders-7d9f8c6b5-x2k4q:8080"}
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        alerts.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": str(event["title"]), "description": str(event["error"])},
                "startsAt": _now(),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=orders_errors_total",
                "fingerprint": fingerprint,
            }
        )
    return {
        "version": "4",
        "groupKey": '{}:{service="orders"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "devops-healer",
        "groupLabels": {"service": SERVICE},
        "commonLabels": {"service": SERVICE},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


def post(url: str, path: str, body: dict[str, object], token: str | None) -> str:
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own devops-healer
        url.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return str(answer.read().decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--format", choices=["generic", "alertmanager"], default="generic")
    parser.add_argument("--duplicate", action="store_true", help="Send the first scenario twice.")
    parser.add_argument("--url", help="POST to this devops-healer instead of printing.")
    parser.add_argument("--token", help="Bearer token for --url.")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    events = [SCENARIOS[name]() for name in names]
    if args.duplicate:
        events.append(events[0])
    if args.format == "generic":
        bodies = [("/incidents", generic(event)) for event in events]
    else:
        bodies = [("/alerts/alertmanager", alertmanager(events))]
    for path, body in bodies:
        if args.url:
            sys.stdout.write(post(args.url, path, body, args.token) + "\n")
        else:
            sys.stdout.write(json.dumps(body) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
