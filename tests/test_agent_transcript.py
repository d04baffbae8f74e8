"""Reading agent CLIs' own output: status, final text, tokens and cost, from real captured runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.agents.transcript import MAX_PARSED_LINE, RunReport, UsageMeter, read_output

OUTPUTS = Path(__file__).parent / "fixtures" / "agent-output"


def _read(name: str) -> RunReport:
    return read_output((OUTPUTS / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # A whole Claude Code 2.0.22 run: the result line's cost and usage (cache reads and writes
        # added up as cached input), not the assistant lines' repeated per-message usage.
        (
            "claude-code-stream-json-success.jsonl",
            {
                "format": "claude-code",
                "status": "success",
                "is_error": False,
                "finished": True,
                "cost_usd": 0.3451878,
                "input_tokens": 48,
                "cached_input_tokens": 750196 + 14512,
                "output_tokens": 4371,
            },
        ),
        # The result says 25 output tokens where the assistant line said 5: the result counts.
        (
            "claude-code-stream-json-success-minimal.jsonl",
            {"format": "claude-code", "status": "success", "result_text": "4", "output_tokens": 25},
        ),
        # error_during_execution with is_error false is still an error; there is no result text.
        (
            "claude-code-stream-json-error-during-execution.jsonl",
            {
                "status": "error_during_execution",
                "is_error": True,
                "finished": True,
                "result_text": None,
                "cost_usd": 0.21045915,
            },
        ),
        # `claude -p --output-format json` prints one pretty-printed object: read whole.
        (
            "claude-code-stream-json-result-success.json",
            {
                "format": "claude-code",
                "is_error": False,
                "result_text": "Here are the files in the current directory.",
                "cost_usd": 0.24722425,
                "output_tokens": 424,
            },
        ),
        # Codex reports tokens on turn.completed and no cost; the last agent_message is the text.
        (
            "codex-exec-json.jsonl",
            {
                "format": "codex",
                "finished": True,
                "is_error": False,
                "input_tokens": 24763,
                "cached_input_tokens": 24448,
                "output_tokens": 122,
                "cost_usd": None,
                "result_text": "Yep — there\u2019s a `README.md` in the repository root.",
            },
        ),
        (
            "codex-exec-json-command.jsonl",
            {"format": "codex", "finished": True, "input_tokens": 6040, "output_tokens": 129},
        ),
        # A Codex stream that stops after turn.started did not finish, whatever its exit code.
        (
            "codex-exec-json-no-turn-completed.jsonl",
            {"format": "codex", "finished": False, "status": None, "input_tokens": None},
        ),
        # Gemini's one object: tokens added up over its two models.
        (
            "gemini-cli-json-success.json",
            {
                "format": "gemini",
                "is_error": False,
                "result_text": "The capital of France is Paris.",
                "input_tokens": 24939 + 8965,
                "output_tokens": 20 + 10,
                "total_tokens": 25113 + 9033,
            },
        ),
        (
            "gemini-cli-stream-json-doc-example.jsonl",
            {
                "format": "gemini",
                "status": "success",
                "finished": True,
                "result_text": "Here are the files...",
                "input_tokens": 50,
                "output_tokens": 200,
            },
        ),
        # Cline's documented envelope alone says nothing of the outcome.
        ("cline-json-doc-example.jsonl", {"format": "cline", "finished": False, "cost_usd": None}),
        # aider prints no JSON: its token line gives the session's cost.
        (
            "aider-message-chat-history.md",
            {"format": "aider", "input_tokens": 5405, "output_tokens": 241, "cost_usd": 0.02},
        ),
    ],
)
def test_each_cli_output_is_read(name: str, expected: dict[str, object]) -> None:
    report = _read(name)
    assert {key: getattr(report, key) for key in expected} == expected


def test_cost_is_known_as_soon_as_the_line_that_reports_it_arrives() -> None:
    meter = UsageMeter()
    lines = (OUTPUTS / "claude-code-stream-json-success.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[:-1]:
        meter.feed(line)
    assert meter.report.cost_usd is None
    assert meter.report.finished is False
    meter.feed(lines[-1])
    assert meter.report.cost_usd == pytest.approx(0.3451878)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # Cline's api_req_started carries its request's tokens and cost as JSON text; they add up.
        (
            [
                {
                    "type": "say",
                    "say": "api_req_started",
                    "ts": 1,
                    "text": json.dumps({"tokensIn": 10, "tokensOut": 5, "cost": 0.25}),
                },
                {
                    "type": "say",
                    "say": "api_req_started",
                    "ts": 2,
                    "text": json.dumps({"tokensIn": 7, "tokensOut": 1, "cost": 0.5}),
                },
                {"type": "say", "say": "completion_result", "ts": 3, "text": "fixed the pool"},
            ],
            {
                "format": "cline",
                "input_tokens": 17,
                "output_tokens": 6,
                "cost_usd": 0.75,
                "finished": True,
                "result_text": "fixed the pool",
            },
        ),
        # Codex's turn.failed ends the run as an error, with its message as the text.
        (
            [
                {"type": "thread.started", "thread_id": "t"},
                {"type": "turn.failed", "error": {"message": "rate limited"}},
            ],
            {"format": "codex", "is_error": True, "finished": True, "result_text": "rate limited"},
        ),
        # Goose's stream ends with complete and a token total.
        (
            [{"type": "message", "message": {"role": "assistant"}}, {"type": "complete", "total_tokens": 321}],
            {"format": "goose", "finished": True, "total_tokens": 321},
        ),
        # Later aider versions abbreviate counts and name cache hits.
        (
            ["Tokens: 2.3k sent, 1.8k cache hit, 91 received. Cost: $0.0034 message, $0.0034 session."],
            {"format": "aider", "input_tokens": 2300, "output_tokens": 91, "cost_usd": 0.0034},
        ),
    ],
)
def test_shapes_not_sampled_by_a_fixture(lines: list[object], expected: dict[str, object]) -> None:
    meter = UsageMeter()
    for line in lines:
        meter.feed(line if isinstance(line, str) else json.dumps(line))
    assert {key: getattr(meter.report, key) for key in expected} == expected


@pytest.mark.parametrize(
    "line",
    [
        "not json at all",  # plain chatter
        "{broken json",  # a JSON start that does not parse
        "[1, 2, 3]",  # JSON that is not an object
        '{"type": "result", "subtype": "success", "total_cost_usd": "a lot", "usage": [1]}',  # wrong types
        '{"type": "result", "subtype": "success", "total_cost_usd": -5}',  # a negative cost
        "{" + "x" * (MAX_PARSED_LINE + 10) + "}",  # over the parsed-line cap
    ],
)
def test_odd_output_is_skipped_not_raised(line: str) -> None:
    meter = UsageMeter()
    meter.feed(line)
    report = meter.report
    assert report.cost_usd is None
    assert report.input_tokens is None
