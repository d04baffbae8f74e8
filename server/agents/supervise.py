"""One agent process: its own process group, output kept capped (head and tail) and redacted, a timeout,
a cost cap read from its own usage reports, and a cancel checked while it runs. Never blocks the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from server.agents.lifecycle import Ending
from server.agents.transcript import UsageMeter
from server.common.redact import redact

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_LONGEST_LINE = 1024 * 1024  # a line longer than this is fed to the usage meter cut short
_GRACE_SECONDS = 3.0


class Capture:
    """The first and last ``cap // 2`` bytes of a stream, and how many bytes it had in all.

    Each end is kept with some slack and redacted before it is cut to size, so a secret that
    straddles a cut is still recognised whole and never shows in part.
    """

    SLACK = 8192

    def __init__(self, cap: int) -> None:
        self.half = cap // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half + self.SLACK - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            keep = self.half + self.SLACK
            if len(self.tail) > keep:
                del self.tail[: len(self.tail) - keep]

    def text(self, secrets: Iterable[str]) -> str:
        def clean(raw: bytes) -> str:
            text = raw.decode("utf-8", "replace")
            for secret in secrets:
                if secret and len(secret) >= 4:
                    text = text.replace(secret, "[REDACTED:run-secret]")
            return redact(text)

        if self.total <= 2 * self.half:
            return clean(bytes(self.head + self.tail))
        head = clean(bytes(self.head))[: self.half]
        tail = clean(bytes(self.tail))[-self.half :]
        omitted = max(self.total - 2 * self.half, 0)
        return f"{head}\n[... about {omitted} bytes of output omitted ...]\n{tail}"


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def supervise(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    cap: int,
    cost_cap: float | None,
    secrets: Iterable[str],
    check_cancel: Callable[[], Awaitable[bool]],
    poll_seconds: float = 1.0,
) -> Ending:
    """Run ``argv`` to its end and say how it ended. The process leads a new session (and so its own
    process group); every way of stopping it signals the whole group, so no child outlives the run."""
    started = time.monotonic()
    capture = Capture(cap)
    meter = UsageMeter()  # reads token usage and cost from the agent's own output format
    stop: list[str] = []  # why the supervisor stopped it: "timeout", "cancelled", "cost"
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
        )
    except OSError as exc:
        return Ending(exit_code=127, note=f"the agent command could not start: {exc.strerror or exc}")

    def terminate(reason: str) -> None:
        if not stop:
            stop.append(reason)
            _kill_group(process.pid, signal.SIGTERM)
            asyncio.get_running_loop().call_later(_GRACE_SECONDS, _kill_group, process.pid, signal.SIGKILL)

    async def read() -> None:
        assert process.stdout is not None
        partial = b""
        while chunk := await process.stdout.read(_CHUNK):
            capture.add(chunk)
            partial += chunk
            *lines, partial = partial.split(b"\n")
            if len(partial) > _LONGEST_LINE:
                lines.append(partial[:_LONGEST_LINE])
                partial = b""
            for line in lines:
                meter.feed(line.decode("utf-8", "replace"))
            cost = meter.report.cost_usd
            if cost_cap is not None and cost is not None and cost > cost_cap:
                terminate("cost")
        if partial:
            meter.feed(partial[:_LONGEST_LINE].decode("utf-8", "replace"))

    reader = asyncio.create_task(read())
    deadline = started + timeout
    try:
        while process.returncode is None:
            left = deadline - time.monotonic()
            if left <= 0:
                terminate("timeout")
                await process.wait()
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=min(poll_seconds, left))
            if process.returncode is None and await check_cancel():
                terminate("cancelled")
    except asyncio.CancelledError:
        _kill_group(process.pid, signal.SIGKILL)
        reader.cancel()
        raise
    # The leader is gone; whatever it left behind in its group goes too.
    _kill_group(process.pid, signal.SIGKILL)
    try:
        await asyncio.wait_for(reader, timeout=_GRACE_SECONDS)
    except TimeoutError:  # an escaped grandchild holds the pipe open; what was read is kept
        reader.cancel()
    report = meter.report
    cost = report.cost_usd
    reason = stop[0] if stop else None
    notes = {
        "timeout": f"killed after its timeout of {timeout:g} seconds",
        "cancelled": "stopped: cancelled by a person",
        "cost": f"stopped: its reported cost ${cost} passed max_cost_usd ${cost_cap}",
    }
    return Ending(
        exit_code=process.returncode,
        timed_out=reason == "timeout",
        cancelled=reason in ("cancelled", "cost"),
        note=notes.get(reason or ""),
        duration_seconds=round(time.monotonic() - started, 3),
        transcript=capture.text(secrets),
        output_bytes=capture.total,
        input_tokens=report.input_tokens,
        output_tokens=report.output_tokens,
        cost_usd=cost,
        usage=report.model_dump() if report.format != "text" else None,
    )
