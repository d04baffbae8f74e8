"""The Kestra examples post exactly what the kestra source accepts: their bodies rendered as Kestra would."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from server.commands.serve import build_app
from server.common.settings import Settings
from server.config import load_config
from server.intake.sources import load_sources
from server.intake.sources.base import AlertStatus
from server.intake.sources.intake import AlertIntake
from server.store import Store

from .conftest import REPO_ROOT, FakeClock
from .sns_ca import RecordingFetcher

EXAMPLES = REPO_ROOT / "examples" / "kestra"
EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
TOKEN = "kestra-example-token-3c9"
FAILURE = 'Command failed with exit code 2:\n"invoices.csv" not found'

# What Kestra substitutes for each expression the examples use. Values of `| toJson`
# expressions are JSON already (quotes, newlines escaped), as Kestra's filter writes them.
ERRORS_FLOW_CONTEXT = {
    "vars.healer_url": "https://healer.example.com",
    "vars.kestra_ui": "https://kestra.example.com",
    "secret('HEALER_KESTRA_TOKEN')": TOKEN,
    "flow.namespace": "company.billing",
    "flow.id": "nightly_invoice_export",
    "execution.id": "5Q3jNnR3rWxTX2gT1aR9fb",
    "tasksWithState('failed')[0]['taskId']": "export_invoices",
    "errorLogs() | jq('.[0].message // \"the task failed without an error log\"') | first | toJson": json.dumps(
        FAILURE
    ),
    "errorLogs() | jq('map(.message) | join(\"\\n\")') | first | toJson": json.dumps(f"{FAILURE}\nretry 1 of 1 failed"),
}
SYSTEM_FLOW_CONTEXT = {
    "vars.healer_url": "https://healer.example.com",
    "vars.kestra_ui": "https://kestra.example.com",
    "secret('HEALER_KESTRA_TOKEN')": TOKEN,
    "trigger.namespace": "company.data",
    "trigger.flowId": "daily_sales_rollup",
    "trigger.executionId": "1ZiZQWCHj7bf9XLtgvAxyi",
    "trigger.state": "FAILED",
}


# A webhook payload as the demo's log generator reports the pool fault (demo_repo/loggen.py).
POOL_LOG = (
    "2026-11-22T10:00:01.104Z ERROR [orders.db] query failed: SELECT FAIL FROM orders\n"
    "2026-11-22T10:00:01.215Z ERROR [orders.db] connection pool exhausted: size=2 in_use=2 waited=0.1s"
)
POOL_PAYLOAD = {
    "service": "orders",
    "error": "PoolExhaustedError: no free connection after 0.1s (pool size 2, 2 in use)",
    "severity": "critical",
    "log": POOL_LOG,
}


def webhook_flow_context(payload: dict[str, str]) -> dict[str, str]:
    """What Kestra substitutes in webhook-to-incident.yaml for a JSON payload posted to its webhook."""
    return {
        "vars.healer_url": "https://healer.example.com",
        "secret('HEALER_API_TOKEN')": TOKEN,
        "execution.id": "4vX8hKqLmT2bN6cR1sD0eY",
        "trigger.body.service | toJson": json.dumps(payload["service"]),
        "trigger.body.error | toJson": json.dumps(payload["error"]),
        "(trigger.body.severity ?? 'high') | toJson": json.dumps(payload.get("severity", "high")),
        "(trigger.body.log ?? null) | toJson": json.dumps(payload.get("log")),
    }


def render(template: str, context: dict[str, str]) -> str:
    unknown = sorted({match for match in EXPRESSION.findall(template) if match not in context})
    assert not unknown, f"the example uses expressions this test cannot render: {unknown}"
    return EXPRESSION.sub(lambda match: context[match.group(1)], template)


def request_task(flow: dict[str, Any], section: str) -> dict[str, Any]:
    tasks = [task for task in flow[section] if task["type"] == "io.kestra.plugin.core.http.Request"]
    assert len(tasks) == 1
    return tasks[0]


def post_rendered(task: dict[str, Any], context: dict[str, str], clock: FakeClock) -> Any:
    assert (task["method"], task["contentType"]) == ("POST", "application/json")
    assert render(task["uri"], context) == "https://healer.example.com/alerts/kestra"
    headers = {name: render(value, context) for name, value in task["headers"].items()}
    sources = load_sources({"sources": {"kestra": {"bearer_token": TOKEN}}}, loopback=False)
    intake = AlertIntake(sources, fetch=RecordingFetcher(), clock=clock)
    return intake.receive("kestra", headers, render(task["body"], context).encode())


def load(name: str) -> dict[str, Any]:
    flow = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(flow, dict)
    return flow


def test_errors_handler_example(clock: FakeClock) -> None:
    flow = load("flow-errors-to-healer.yaml")
    parsed = post_rendered(request_task(flow, "errors"), ERRORS_FLOW_CONTEXT, clock)
    alert = parsed.alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.severity.value, alert.title) == (
        "company.billing.nightly_invoice_export.export_invoices",
        AlertStatus.firing,
        "invoice-export",
        "high",
        "Invoice export failed",
    )
    assert alert.error == FAILURE and alert.log == f"{FAILURE}\nretry 1 of 1 failed"
    assert parsed.delivery_id == "5Q3jNnR3rWxTX2gT1aR9fb"
    assert alert.links["source"] == (
        "https://kestra.example.com/ui/executions/company.billing/nightly_invoice_export/5Q3jNnR3rWxTX2gT1aR9fb"
    )


def test_system_flow_example(clock: FakeClock) -> None:
    flow = load("system-flow-failures-to-healer.yaml")
    (trigger,) = flow["triggers"]
    assert trigger["type"] == "io.kestra.plugin.core.trigger.Flow"
    statuses = [c for c in trigger["conditions"] if c["type"] == "io.kestra.plugin.core.condition.ExecutionStatus"]
    assert [condition["in"] for condition in statuses] == [["FAILED"]]
    parsed = post_rendered(request_task(flow, "tasks"), SYSTEM_FLOW_CONTEXT, clock)
    alert = parsed.alerts[0]
    assert (alert.identity, alert.status, alert.service, alert.severity.value) == (
        "company.data.daily_sales_rollup",
        AlertStatus.firing,
        "company.data",
        "high",
    )
    assert alert.error == "Execution 1ZiZQWCHj7bf9XLtgvAxyi of company.data.daily_sales_rollup ended FAILED"
    assert parsed.delivery_id == "1ZiZQWCHj7bf9XLtgvAxyi"


@pytest.mark.parametrize(
    ("payload", "severity", "log"),
    [
        (POOL_PAYLOAD, "critical", POOL_LOG),  # everything the flow reads
        ({k: POOL_PAYLOAD[k] for k in ("service", "error")}, "high", None),  # no severity, no log: the defaults
    ],
)
def test_webhook_flow_example_opens_an_incident(
    healer_home: Path, store: Store, payload: dict[str, str], severity: str, log: str | None
) -> None:
    flow = load("webhook-to-incident.yaml")
    (trigger,) = flow["triggers"]
    assert trigger["type"] == "io.kestra.plugin.core.trigger.Webhook"
    task = request_task(flow, "tasks")
    context = webhook_flow_context(payload)
    assert (task["method"], task["contentType"]) == ("POST", "application/json")
    assert render(task["uri"], context) == "https://healer.example.com/incidents"
    headers = {name: render(value, context) for name, value in task["headers"].items()}
    body = render(task["body"], context)
    settings = Settings(home=healer_home, api_token=TOKEN)
    app = build_app(settings, load_config(healer_home / "healer.toml"), store, run_triage=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/incidents", content=body, headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 202, answer.text
        again = client.post("/incidents", content=body, headers={**headers, "Content-Type": "application/json"})
        assert again.json() == answer.json()  # a retried task: the same Idempotency-Key, one incident
        stored = client.get(f"/incidents/{answer.json()['id']}", headers={"Authorization": headers["Authorization"]})
    incident = stored.json()
    assert (incident["service"], incident["error"], incident["severity"], incident["source"]) == (
        "orders",
        POOL_PAYLOAD["error"],
        severity,
        "kestra",
    )
    assert incident["log_excerpt"] == log
    assert incident["labels"] == {"kestra_execution": "4vX8hKqLmT2bN6cR1sD0eY"}
    assert incident["occurrences"] == 1


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("flow-errors-to-healer.yaml", "HEALER_KESTRA_TOKEN"),  # /alerts/kestra: [sources.kestra] bearer_token
        ("system-flow-failures-to-healer.yaml", "HEALER_KESTRA_TOKEN"),
        ("webhook-to-incident.yaml", "HEALER_API_TOKEN"),  # /incidents: the API token
    ],
)
def test_examples_authenticate_with_a_secret_not_a_literal(name: str, secret: str) -> None:
    text = (EXAMPLES / name).read_text()
    assert f"Bearer {{{{ secret('{secret}') }}}}" in text
    assert TOKEN not in text


def test_readme_lists_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    examples = sorted(path.name for path in EXAMPLES.glob("*.yaml"))
    assert examples == ["flow-errors-to-healer.yaml", "system-flow-failures-to-healer.yaml", "webhook-to-incident.yaml"]
    assert all(f"`{name}`" in readme for name in examples)


def test_render_refuses_an_expression_it_does_not_know() -> None:
    with pytest.raises(AssertionError, match=r"outputs\.x"):
        render('{"a": "{{ outputs.x }}"}', {})
