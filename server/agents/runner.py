"""One run from claim to outcome: the scratch folder, the MCP config and prompt, the sandboxed process, the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fixer.errors import FixerError
from fixer.sandbox import SandboxMode
from server.agents import lifecycle
from server.agents.config import AgentConfig, AgentsConfig
from server.agents.launch import HostView, agent_env, sandboxed
from server.agents.lifecycle import Ending, Started
from server.agents.prompt import prepare, prompt_for
from server.agents.runs import AgentRun
from server.agents.supervise import supervise
from server.errors import HealerError
from server.store import Store

log = logging.getLogger(__name__)

#: A run whose heartbeat is older than this has no server looking after it.
STALE_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class RunnerSettings:
    """What the runner needs to know about the server it runs in."""

    mcp_url: str
    host: HostView
    server_secrets: tuple[str, ...] = ()
    scratch_root: Path | None = None
    poll_seconds: float = 1.0
    #: The sandbox mode of an agent that names none (as for repositories: required off loopback).
    sandbox: SandboxMode = "auto"


class Runner:
    """Starts queued runs and looks after their processes; each run is one asyncio task."""

    def __init__(self, store: Store, agents: AgentsConfig, settings: RunnerSettings) -> None:
        self.store = store
        self.agents = agents
        self.settings = settings
        self.tasks: dict[int, asyncio.Task[AgentRun | None]] = {}

    @property
    def running(self) -> int:
        return len(self.tasks)

    async def start(self, run_id: int, agent: AgentConfig) -> bool:
        """queued -> running, then supervise it in the background; False when it could not start."""
        started = await asyncio.to_thread(lifecycle.start, self.store, run_id, lease_seconds=agent.timeout_seconds)
        if started is None:
            return False
        task = asyncio.get_running_loop().create_task(self._run(started, agent), name=f"agent-run-{run_id}")
        self.tasks[run_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(run_id, None))
        return True

    async def _run(self, started: Started, agent: AgentConfig) -> AgentRun | None:
        run = started.run
        scratch = Path(tempfile.mkdtemp(prefix=f"healer-run-{run.id}-", dir=self.settings.scratch_root))
        try:
            ending = await self._launch(started, agent, scratch)
        except (HealerError, FixerError) as exc:  # the sandbox required and missing, say
            ending = Ending(exit_code=None, lost=True, note=exc.message)
        except Exception as exc:  # the run must end in the store whatever broke here
            log.exception("agent run %s failed to run", run.id)
            ending = Ending(exit_code=None, lost=True, note=f"the runner failed: {type(exc).__name__}")
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        try:
            ended = await asyncio.to_thread(
                lifecycle.finish,
                self.store,
                run.id,
                ending,
                max_runs_per_incident=self.agents.dispatch.max_runs_per_incident,
            )
        except HealerError:
            log.exception("agent run %s could not be recorded as ended", run.id)
            return None
        log.info("agent run %s (%s) for %s ended %s", run.id, run.agent, run.incident_id, ended.status.value)
        return ended

    async def _launch(self, started: Started, agent: AgentConfig, scratch: Path) -> Ending:
        run = started.run
        prepared = prepare(
            agent,
            scratch=scratch,
            incident_id=run.incident_id,
            prompt=prompt_for(run.incident_id, follow_up=run.kind == "follow_up"),
            url=self.settings.mcp_url,
            token=started.token,
        )
        argv = sandboxed(
            prepared.argv,
            writable=(scratch,),
            hidden=self.settings.host.hidden,
            mode=agent.sandbox or self.settings.sandbox,
            cwd=prepared.workdir,
        )
        env = agent_env(agent, self.settings.host, home=scratch, token=started.token, url=self.settings.mcp_url)
        # The agent's own keys (its model API's) are secrets too: never kept in its transcript.
        keys = [value.get_secret_value() for value in agent.env.values()]
        secrets = (started.token, *self.settings.server_secrets, *keys)

        async def check_cancel() -> bool:
            return await asyncio.to_thread(lifecycle.heartbeat, self.store, run.id)

        return await supervise(
            argv,
            env=env,
            cwd=prepared.workdir,
            timeout=agent.timeout_seconds,
            cap=agent.transcript_cap_bytes,
            cost_cap=self.agents.cost_cap(agent),
            secrets=secrets,
            check_cancel=check_cancel,
            poll_seconds=self.settings.poll_seconds,
        )

    async def close(self) -> None:
        """The server is stopping: stop every agent it runs; their runs end crashed, their claims go back."""
        tasks = list(self.tasks.items())
        for _, task in tasks:
            task.cancel()
        for _, task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if tasks:
            await asyncio.to_thread(
                lifecycle.reap,
                self.store,
                stale_after=STALE_AFTER,
                max_runs_per_incident=self.agents.dispatch.max_runs_per_incident,
                only=[run_id for run_id, _ in tasks],
            )
