"""`healer agents dispatch | runs | show | cancel`: start a configured agent CLI on an incident, and follow its runs.

The command writes to the store only: a dispatched run is queued there, and the `healer serve`
that runs agents starts it within a second or two.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from server.commands.common import fail, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    dispatch = sub.add_parser("dispatch", help="Queue a run of an agent on an incident (healer serve starts it).")
    dispatch.add_argument("incident_id", help="The incident (INC-...) to start an agent run for.")
    dispatch.add_argument("--agent", default=None, help="An [agents.<name>]; default: the [dispatch] rules.")
    runs = sub.add_parser("runs", help="Recent runs (or one incident's), newest first.")
    runs.add_argument(
        "incident_id", nargs="?", default=None, help="Only this incident's runs (default: the latest runs of all)."
    )
    runs.add_argument("--limit", type=int, default=30, help="How many runs to list (default 30).")
    show = sub.add_parser("show", help="One run, with its transcript.")
    show.add_argument("run_id", type=int, help="The run's number, as `healer agents runs` lists it.")
    cancel = sub.add_parser("cancel", help="Stop a queued or running run.")
    cancel.add_argument("run_id", type=int, help="The run to stop: its process group is killed and its claim released.")


def _line(run: object) -> str:
    from server.agents.runs import AgentRun

    assert isinstance(run, AgentRun)
    took = f"{run.duration_seconds:.0f}s" if run.duration_seconds is not None else "-"
    cost = f"${run.cost_usd:.2f}" if run.cost_usd is not None else "-"
    why = f"  ({run.held})" if run.held and run.status.value == "queued" else ""
    return f"{run.id:>5}  {run.incident_id}  {run.agent:<12} {run.status.value:<10} {took:>6} {cost:>7}{why}\n"


def run(args: argparse.Namespace) -> int:
    from server.agents import runs
    from server.agents.config import load_agents
    from server.agents.service import AgentService
    from server.errors import HealerError
    from server.store import Store

    settings, config = load()
    out = sys.stdout
    try:
        store = Store.from_settings(settings)
    except HealerError as exc:
        fail(exc.message)
    try:
        if args.action == "dispatch":
            agents = load_agents(config, {}, resolve_env=False)
            queued = AgentService(agents).dispatch(
                store, args.incident_id, agent=args.agent, trigger=f"cli:{getpass.getuser()}"
            )
            out.write(
                f"run {queued.id} of {queued.agent} queued for {queued.incident_id}; `healer agents show {queued.id}`\n"
            )
        elif args.action == "runs":
            found = (
                runs.for_incident(store, args.incident_id) if args.incident_id else runs.recent(store, limit=args.limit)
            )
            if not found:
                out.write("no agent runs yet\n")
            for item in found:
                out.write(_line(item))
        elif args.action == "show":
            item = runs.get(store, args.run_id)
            out.write(_line(item))
            out.write(f"  kind {item.kind}, started by {item.trigger}, exit code {item.exit_code}\n")
            if item.note:
                out.write(f"  {item.note}\n")
            if item.input_tokens is not None or item.output_tokens is not None:
                out.write(f"  tokens in {item.input_tokens}, out {item.output_tokens}\n")
            out.write("--- transcript (capped, redacted) ---\n")
            out.write((item.transcript or "(none yet)") + "\n")
        else:
            item = runs.cancel(store, args.run_id, by=f"cli:{getpass.getuser()}")
            state = "cancelled" if item.status.value == "cancelled" else "is being stopped"
            out.write(f"run {item.id} {state}\n")
    except HealerError as exc:
        fail(exc.message)
    finally:
        store.close()
    return 0
