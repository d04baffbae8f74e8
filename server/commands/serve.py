"""`healer serve`: the REST API, with the MCP server mounted over streamable HTTP at /mcp."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from server.commands.common import fail, load
from server.common.listen import bind, port_number
from server.common.settings import Settings, is_loopback
from server.errors import HealerError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from server.api.state import AlertIntakeState
    from server.config import HealerConfig
    from server.store import Store

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
    parser.add_argument("--port", type=port_number, default=8080, help="Port, 1 to 65535 (default 8080).")
    parser.add_argument(
        "--log-format",
        choices=["json", "console"],
        default=None,
        help="json (one JSON object a line) or console (readable lines); default: console on a terminal, else json.",
    )


def build_app(
    settings: Settings,
    config: HealerConfig,
    store: Store,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    run_triage: bool = True,
    environ: Mapping[str, str] | None = None,
    triage_process: bool = False,
) -> FastAPI:
    from mcp.server.transport_security import TransportSecuritySettings

    from server.api.app import create_app
    from server.api.state import AppState
    from server.triage.process import TriageProcess
    from server.triage.worker import TriageWorker
    from tools.runtime import Runtime
    from tools.server import build_server

    mcp = build_server(Runtime(settings, config=config, store=store))
    from server.triage.decide import Triage

    rules = Triage(config)
    intake = alert_intake(config, store, host, environ or {})

    def intake_load() -> int:
        return max(store.committer.load(), intake.committer.load())

    triage: TriageWorker | TriageProcess | None = None
    if run_triage and triage_process:
        # Its own process: routing the backlog takes a core intake's interpreter does not use.
        triage = TriageProcess(settings.resolved_database_url, config, synchronous=settings.sqlite_synchronous)
    elif run_triage:
        triage = TriageWorker(store, rules.decide, approval=rules.approval, intake_load=intake_load)
    from server.review.worker import ReviewWorker

    reviews = (
        ReviewWorker(store, config, settings, interval=settings.review_interval_seconds)
        if run_triage and settings.review_worker
        else None
    )
    # Host and Origin on /mcp are checked by the app's BrowserGuard, in front of every route alike.
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=host,
        max_request_body_size=settings.max_body_bytes,
    )
    from server.agents.service import build as build_agents

    agents = build_agents(
        settings,
        config,
        store,
        host=host,
        port=port,
        environ=environ or {},
        mcp_routes=mcp_app.routes,
        run_agents=run_triage,
    )
    jobs: list[Callable[[], AbstractAsyncContextManager[None]]] = [mcp.session_manager.run]
    if agents.dispatcher is not None:
        jobs.append(lambda: background(agents.dispatcher.run))  # type: ignore[union-attr]
    if triage is not None:
        jobs.append(lambda: background(triage.run))
    if reviews is not None:
        jobs.append(lambda: background(reviews.run))
    from server.common.credentials import secret_values, settings_secrets
    from server.common.redact import hold_secrets

    held = settings_secrets(settings) + [value for c in intake.intake.sources.values() for value in secret_values(c)]
    from server.review.deployments import load_deployments

    deploys = load_deployments(config, environ if environ is not None else {})
    held += [secret.get_secret_value() for secret in (deploys.secrets() if deploys else [])]
    if environ is not None:
        from server.notify.config import load_notify
        from server.notify.sender import Sender

        notify = load_notify(config, environ)
        held += [value for channel in notify.channels.values() for value in secret_values(channel)]
        if notify.channels:
            sender = Sender(store, notify, public_url=settings.public_url)
            jobs.append(lambda: background(sender.run))
    # Before anything is served: every text the server stores or shows is redacted of its own secrets.
    hold_secrets(held)
    if isinstance(triage, TriageProcess):
        triage.held_secrets = list(held)
    app = create_app(
        AppState(
            settings=settings,
            config=config,
            store=store,
            triage=triage,
            alerts=intake,
            reviews=reviews,
            agents=agents,
            deployments=deploys,
        ),
        extra_lifespans=jobs,
        host=host,
    )
    app.router.routes.extend(mcp_app.routes)
    return app


def alert_intake(config: HealerConfig, store: Store, host: str, environ: Mapping[str, str]) -> AlertIntakeState:
    """The configured monitor sources, and the committer their deliveries share."""
    from server.api.state import AlertIntakeState
    from server.intake.alerts import store_deliveries, store_one
    from server.intake.sources import load_sources
    from server.intake.sources.fetch import HttpsFetcher
    from server.intake.sources.intake import AlertIntake
    from server.store.writer import GroupCommitter

    source = str(config.source_file) if config.source_file else "healer.toml"
    sources = load_sources(config.model_extra or {}, loopback=is_loopback(host), file=source, environ=environ)
    return AlertIntakeState(
        intake=AlertIntake(sources, fetch=HttpsFetcher(), clock=store.clock),
        committer=GroupCommitter(
            store.engine,
            batch=lambda connection, requests: store_deliveries(connection, requests, config),
            single=lambda connection, request: store_one(connection, request, config),
        ),
    )


@asynccontextmanager
async def background(job: Callable[[], Coroutine[Any, Any, None]]) -> AsyncIterator[None]:
    """Run ``job`` for as long as the app runs; cancel it on shutdown."""
    task = asyncio.get_running_loop().create_task(job())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def run(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from server.common import logs
    from server.hooks import STANDARD
    from server.store import Store

    settings, config = load(hold=False)  # build_app holds the secrets it loads
    settings = settings.model_copy(update={"bind_host": args.host})
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    secrets = [settings.api_token, settings.github_token, settings.github_webhook_secret]
    logs.configure(
        args.log_format or logs.default_format(),
        args.log_level or settings.log_level,
        [secret.get_secret_value() for secret in secrets if secret is not None],
    )
    if not is_loopback(args.host) and not token:
        fail(
            f"refusing to listen on {args.host} without an API token: anyone who can reach it could read incidents "
            "and drive the fixer. Set HEALER_API_TOKEN, or bind to 127.0.0.1."
        )
    from server.intake.sources import load_sources, unauthenticated_sources

    try:
        sources = load_sources(config.model_extra or {}, loopback=is_loopback(args.host), environ=os.environ)
    except HealerError as exc:
        fail(exc.message)
    open_sources = unauthenticated_sources(sources)
    if open_sources and not is_loopback(args.host):
        fail(
            f"refusing to listen on {args.host}: alert sources without a secret would accept anyone's alerts: "
            f"{', '.join(open_sources)}. Configure their secrets in [sources.<name>] of healer.toml."
        )
    if open_sources:
        log.warning(
            "alert sources without a secret accept unauthenticated deliveries (allowed on loopback only): %s",
            ", ".join(open_sources),
        )
    from server.fixing.sandboxing import log_availability

    log_availability(settings, config)
    from server.commands import doctor_checks as doctor

    for finding in doctor.cheap(config, settings):
        if not finding.ok:
            log.warning("%s: %s (run `healer doctor` for every check)", finding.check, finding.message)
    try:
        store = Store.from_settings(settings, hooks=STANDARD)
    except HealerError as exc:
        fail(exc.message)
    from server.fixing.recovery import recover

    recover(store, settings.home / "workspaces")  # fixes and attempt directories of processes that died
    try:
        app = build_app(
            settings, config, store, host=args.host, port=args.port, environ=os.environ, triage_process=True
        )
    except HealerError as exc:
        fail(exc.message)
    from server.common.heap import settle_for_serving

    try:
        sock = bind(args.host, args.port)  # before "listening" is said, and a port in use is one clear line
    except HealerError as exc:
        fail(exc.message)
    settle_for_serving()
    # log_config=None: uvicorn's lines go through the handler configured above, in the same format.
    # The grace period bounds shutdown; open live-feed streams end on their own when it starts.
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    )
    log.info("devops-healer listening on http://%s:%d (MCP at /mcp)", args.host, args.port)
    server.run(sockets=[sock])
    return 0
