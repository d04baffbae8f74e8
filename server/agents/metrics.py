"""Prometheus figures for agent runs, read from the runs table at scrape time (the same on every replica)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from server.agents.outcomes import ENDED, RunStatus
from server.store import Store
from server.store.runs_schema import agent_runs

#: Seconds: ten seconds to two hours.
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class RunCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        runs = agent_runs.c
        ended = [s.value for s in ENDED]
        with self.store.read() as connection:
            started_rows = connection.execute(
                select(runs.agent, func.count()).where(runs.started_at.is_not(None)).group_by(runs.agent)
            ).all()
            ended_rows = connection.execute(
                select(runs.agent, runs.status, func.count(), func.sum(runs.cost_usd))
                .where(runs.status.in_(ended))
                .group_by(runs.agent, runs.status)
            ).all()
            state_rows = connection.execute(
                select(runs.status, func.count())
                .where(runs.status.in_([RunStatus.queued.value, RunStatus.running.value]))
                .group_by(runs.status)
            ).all()
            buckets = [func.sum(case((runs.duration_seconds <= b, 1), else_=0)) for b in DURATION_BUCKETS]
            durations = connection.execute(
                select(runs.agent, func.count(), func.sum(runs.duration_seconds), *buckets)
                .where(runs.duration_seconds.is_not(None))
                .group_by(runs.agent)
            ).all()
        started = CounterMetricFamily("healer_agent_runs_started", "Agent runs started, by agent.", labels=["agent"])
        for agent, count in started_rows:
            started.add_metric([agent], count)
        yield started
        finished = CounterMetricFamily(
            "healer_agent_runs_ended", "Agent runs ended, by agent and outcome.", labels=["agent", "outcome"]
        )
        cost = CounterMetricFamily(
            "healer_agent_run_cost_usd", "Cost the agents reported for their runs, in US dollars.", labels=["agent"]
        )
        spent: dict[str, float] = {}
        for agent, status, count, dollars in ended_rows:
            finished.add_metric([agent, status], count)
            spent[agent] = spent.get(agent, 0.0) + float(dollars or 0.0)
        for agent, dollars in sorted(spent.items()):
            cost.add_metric([agent], dollars)
        yield finished
        yield cost
        now = GaugeMetricFamily("healer_agent_runs", "Agent runs queued or running now.", labels=["status"])
        found: dict[str, int] = {str(status): int(count) for status, count in state_rows}
        for status in (RunStatus.queued, RunStatus.running):
            now.add_metric([status.value], found.get(status.value, 0))
        yield now
        histogram = HistogramMetricFamily(
            "healer_agent_run_duration_seconds", "How long agent runs took, by agent.", labels=["agent"]
        )
        for agent, count, total, *counts in durations:
            points = [(f"{b:g}", float(c or 0)) for b, c in zip(DURATION_BUCKETS, counts, strict=True)]
            histogram.add_metric([agent], [*points, ("+Inf", float(count))], sum_value=float(total or 0.0))
        yield histogram
