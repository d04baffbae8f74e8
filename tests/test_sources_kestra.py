"""The Kestra examples post exactly what the kestra source accepts: their bodies rendered as Kestra would."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from server.sources import load_sources
from server.sources.base import AlertStatus
from server.sources.intake import AlertIntake

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


@pytest.mark.parametrize("name", ["flow-errors-to-healer.yaml", "system-flow-failures-to-healer.yaml"])
def test_examples_authenticate_with_a_secret_not_a_literal(name: str) -> None:
    text = (EXAMPLES / name).read_text()
    assert "Bearer {{ secret('HEALER_KESTRA_TOKEN') }}" in text
    assert TOKEN not in text


def test_readme_lists_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    examples = sorted(path.name for path in EXAMPLES.glob("*.yaml"))
    assert examples == ["flow-errors-to-healer.yaml", "system-flow-failures-to-healer.yaml"]
    assert all(f"`{name}`" in readme for name in examples)


def test_render_refuses_an_expression_it_does_not_know() -> None:
    with pytest.raises(AssertionError, match=r"outputs\.x"):
        render('{"a": "{{ outputs.x }}"}', {})
