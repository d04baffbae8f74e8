"""Transcripts: what a headless agent CLI's output says about its run (status, final text, tokens, cost).

Each CLI prints its own shape, so each has one reader here, registered in ``READERS``; the first
JSON line a reader recognises picks it. ``UsageMeter`` is fed the output a line at a time while the
run goes on, so a cost cap can stop a run as soon as the reported cost passes it; ``report`` is a
snapshot and may be read at any time. Plain-text CLIs (aider) are read from their token lines.

What comes in is untrusted text from a process we did not write: a line that is not what its reader
expects is skipped, never raised. The caller redacts ``result_text`` like every other output.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from pydantic import BaseModel

#: Lines longer than this are not parsed (a Claude Code tool result can carry a base64 image);
#: they still count as output.
MAX_PARSED_LINE = 1024 * 1024
#: A CLI that prints one pretty-printed JSON object (``claude -p --output-format json``, Gemini's
#: ``--output-format json``) is read whole at the end, from at most this much text.
MAX_WHOLE_OBJECT = 4 * 1024 * 1024


class RunReport(BaseModel):
    """What the agent said of its own run. ``None`` where its output does not say."""

    format: str = "text"
    status: str | None = None
    is_error: bool | None = None
    finished: bool = False
    result_text: str | None = None
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _add(current: int | None, more: Any) -> int | None:
    value = _int(more)
    if value is None:
        return current
    return (current or 0) + value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Reader(Protocol):
    """One CLI's output shape."""

    format: str

    def claims(self, event: dict[str, Any]) -> bool: ...

    def feed(self, event: dict[str, Any], report: RunReport) -> None: ...


class ClaudeCode:
    """``claude -p --output-format stream-json --verbose`` (and ``json``, one result object).

    The ``result`` event is the outcome. ``is_error`` alone is not enough: a run can end with
    ``subtype: error_during_execution`` and ``is_error: false``.
    """

    format = "claude-code"

    def claims(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        return (kind == "system" and event.get("subtype") == "init") or (
            kind == "result" and ("total_cost_usd" in event or "subtype" in event)
        )

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        if event.get("type") != "result":
            return
        subtype = _text(event.get("subtype"))
        report.status = subtype
        report.finished = True
        report.is_error = bool(event.get("is_error")) or (subtype is not None and subtype != "success")
        report.result_text = _text(event.get("result"))
        cost = event.get("total_cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            report.cost_usd = float(cost)
        usage = event.get("usage")
        if isinstance(usage, dict):
            report.input_tokens = _int(usage.get("input_tokens"))
            cached = _add(_int(usage.get("cache_read_input_tokens")), usage.get("cache_creation_input_tokens"))
            report.cached_input_tokens = cached
            report.output_tokens = _int(usage.get("output_tokens"))


class Codex:
    """``codex exec --json``: ``turn.completed`` ends a turn (with usage); a stream may stop without it."""

    format = "codex"

    def claims(self, event: dict[str, Any]) -> bool:
        kind = event.get("type")
        return isinstance(kind, str) and (kind.startswith(("thread.", "turn.", "item.")) or kind == "error")

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        kind = event.get("type")
        item = event.get("item")
        if kind == "item.completed" and isinstance(item, dict) and item.get("type") == "agent_message":
            report.result_text = _text(item.get("text")) or report.result_text
        elif kind == "turn.started":
            report.finished = False
        elif kind == "turn.completed":
            report.finished = True
            report.status = "completed"
            report.is_error = False if report.is_error is None else report.is_error
            usage = event.get("usage")
            if isinstance(usage, dict):
                report.input_tokens = _add(report.input_tokens, usage.get("input_tokens"))
                report.cached_input_tokens = _add(report.cached_input_tokens, usage.get("cached_input_tokens"))
                report.output_tokens = _add(report.output_tokens, usage.get("output_tokens"))
        elif kind in ("turn.failed", "error"):
            report.finished = kind == "turn.failed"
            report.status = kind
            report.is_error = True
            error = event.get("error")
            message = error.get("message") if isinstance(error, dict) else event.get("message")
            report.result_text = _text(message) or report.result_text


class GeminiStream:
    """``gemini --output-format stream-json``: the ``result`` event's ``status`` and ``stats``."""

    format = "gemini"

    def claims(self, event: dict[str, Any]) -> bool:
        return event.get("type") == "init" and "session_id" in event

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        kind = event.get("type")
        if kind == "message" and event.get("role") == "assistant":
            content = _text(event.get("content")) or ""
            report.result_text = (report.result_text or "") + content if event.get("delta") else content
        elif kind == "result":
            status = _text(event.get("status"))
            report.status = status
            report.finished = True
            report.is_error = status != "success"
            stats = event.get("stats")
            if isinstance(stats, dict):
                report.input_tokens = _int(stats.get("input_tokens"))
                report.output_tokens = _int(stats.get("output_tokens"))
                report.total_tokens = _int(stats.get("total_tokens"))


class Gemini:
    """``gemini --output-format json``: one object, ``response`` or ``error``, tokens per model."""

    format = "gemini"

    def claims(self, event: dict[str, Any]) -> bool:
        return ("response" in event or "error" in event) and isinstance(event.get("stats"), dict)

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        report.finished = True
        error = event.get("error")
        report.is_error = error is not None
        report.status = "error" if error is not None else "success"
        report.result_text = _text(event.get("response")) or (
            _text(error.get("message")) if isinstance(error, dict) else None
        )
        stats = event.get("stats")
        models = stats.get("models") if isinstance(stats, dict) else None
        for usage in models.values() if isinstance(models, dict) else ():
            tokens = usage.get("tokens") if isinstance(usage, dict) else None
            if isinstance(tokens, dict):
                report.input_tokens = _add(report.input_tokens, tokens.get("prompt"))
                report.cached_input_tokens = _add(report.cached_input_tokens, tokens.get("cached"))
                report.output_tokens = _add(report.output_tokens, tokens.get("candidates"))
                report.total_tokens = _add(report.total_tokens, tokens.get("total"))


class Cline:
    """``cline --json``: ``say`` messages; ``api_req_started`` carries tokens and cost as JSON text,
    ``completion_result`` the final text."""

    format = "cline"

    def claims(self, event: dict[str, Any]) -> bool:
        return event.get("type") in ("say", "ask") and "ts" in event

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        say = event.get("say")
        text = _text(event.get("text"))
        if say == "completion_result":
            report.result_text = text
            report.finished = True
            report.is_error = False
            report.status = "completion_result"
        elif say == "error":
            report.is_error = True
            report.status = "error"
        elif say == "api_req_started" and text:
            try:
                request = json.loads(text)
            except ValueError:
                return
            if not isinstance(request, dict):
                return
            report.input_tokens = _add(report.input_tokens, request.get("tokensIn"))
            report.output_tokens = _add(report.output_tokens, request.get("tokensOut"))
            report.cached_input_tokens = _add(report.cached_input_tokens, request.get("cacheReads"))
            cost = request.get("cost")
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
                report.cost_usd = (report.cost_usd or 0.0) + float(cost)


class GooseStream:
    """``goose run --output-format stream-json``: ``complete`` ends the run with ``total_tokens``."""

    format = "goose"

    def claims(self, event: dict[str, Any]) -> bool:
        return event.get("type") in ("complete", "notification") or (
            event.get("type") == "message" and isinstance(event.get("message"), dict)
        )

    def feed(self, event: dict[str, Any], report: RunReport) -> None:
        kind = event.get("type")
        if kind == "complete":
            report.finished = True
            report.status = "complete"
            report.is_error = False if report.is_error is None else report.is_error
            report.total_tokens = _int(event.get("total_tokens"))
        elif kind == "error":
            report.is_error = True
            report.status = "error"
            report.result_text = _text(event.get("error")) or report.result_text


READERS: tuple[Reader, ...] = (ClaudeCode(), Codex(), GeminiStream(), Gemini(), Cline(), GooseStream())

# aider prints "Tokens: 5,405 sent, 241 received. Cost: $0.02 request, $0.02 session." (later
# versions: "2.3k sent, 1.8k cache hit, 91 received. Cost: $0.0034 message, $0.0034 session.").
_AIDER = re.compile(
    r"Tokens: (?P<sent>[\d.,]+k?) sent,(?: (?P<cached>[\d.,]+k?) cache (?:hit|write)[^,]*,)*"
    r" (?P<received>[\d.,]+k?) received\. Cost: \$(?P<request>[\d.]+) (?:request|message),"
    r" \$(?P<session>[\d.]+) session\."
)


def _aider_count(text: str) -> int:
    text = text.replace(",", "")
    return round(float(text[:-1]) * 1000) if text.endswith("k") else int(float(text))


class UsageMeter:
    """Fed an agent's output line by line; ``report`` says what it has said so far."""

    def __init__(self) -> None:
        self._report = RunReport()
        self._reader: Reader | None = None
        self._unparsed: list[str] = []
        self._unparsed_size = 0

    def feed(self, line: str) -> None:
        stripped = line.strip()
        if not stripped or len(stripped) > MAX_PARSED_LINE:
            return
        event = self._event(stripped)
        if event is None:
            self._keep_unparsed(stripped)
            self._aider(stripped)
            return
        if self._reader is None:
            self._reader = next((reader for reader in READERS if reader.claims(event)), None)
            if self._reader is None:
                return
            self._report.format = self._reader.format
        self._reader.feed(event, self._report)

    @property
    def report(self) -> RunReport:
        if self._reader is None and self._unparsed and self._report.format == "text":
            whole = self._whole_object()
            if whole is not None:
                return whole
        return self._report.model_copy()

    @staticmethod
    def _event(line: str) -> dict[str, Any] | None:
        if not line.startswith("{"):
            return None
        try:
            event = json.loads(line)
        except ValueError:
            return None
        return event if isinstance(event, dict) else None

    def _keep_unparsed(self, line: str) -> None:
        if self._unparsed_size + len(line) <= MAX_WHOLE_OBJECT:
            self._unparsed.append(line)
            self._unparsed_size += len(line) + 1

    def _whole_object(self) -> RunReport | None:
        event = self._event("\n".join(self._unparsed))
        reader = next((reader for reader in READERS if event is not None and reader.claims(event)), None)
        if event is None or reader is None:
            return None
        report = RunReport(format=reader.format)
        reader.feed(event, report)
        return report

    def _aider(self, line: str) -> None:
        match = _AIDER.search(line)
        if match is None:
            return
        report = self._report
        report.format = "aider"
        report.input_tokens = (report.input_tokens or 0) + _aider_count(match["sent"])
        report.output_tokens = (report.output_tokens or 0) + _aider_count(match["received"])
        report.cost_usd = float(match["session"])


def read_output(text: str) -> RunReport:
    """The report for a whole output at once (a stored transcript)."""
    meter = UsageMeter()
    for line in text.splitlines():
        meter.feed(line)
    return meter.report
