"""Prometheus figures derived from the store at scrape time, the same on every process sharing it.

Counters come from the timeline, which is append-only: each scrape reads only the rows added
since the last one (``TimelineCursor``) and adds them to running totals, so a scrape costs what
happened since the previous scrape, not the whole history. Gauges (incidents per state, outbox
depth, open claims) and delivery results are aggregate queries (GROUP BY) over indexed columns.

Labels never carry ids: states, sources, severities, services' channels, tools and outcomes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, case, func, select

from server.models import Status
from server.observe.feed import TimelineCursor
from server.observe.loop_times import Leg, durations
from server.store import Store
from server.store.reviews_schema import github_deliveries
from server.store.schema import incidents, timeline
from server.store.triage_schema import outbox, outbox_deliveries

#: Seconds: a minute to a week, for every leg of the loop.
LOOP_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0, 604800.0)

#: Timeline events that end a fix attempt -> the attempt's outcome.
ATTEMPT_OUTCOMES = {
    "pr_opened": "pr_opened",
    "pr_updated": "pr_updated",
    "fix_reported": "pr_opened",
    "patch_pushed": "patch_pushed",
    "approval_requested": "held_for_approval",
    "fix_refused": "refused",
    "fix_failed": "failed",
    "dead_lettered": "failed",
    "needs_review": "handed_to_humans",
}

#: Timeline events an agent's tool call writes -> (tool, outcome). A call refused before it
#: changed anything writes no row and is not counted. Failures name their tool by the state
#: they left: a submit_fix run fails from `fixing`, report_fix_status(failed) from `claimed`.
AGENT_CALLS: dict[str, tuple[str, str]] = {
    "claimed": ("claim_incident", "claimed"),
    "lease_renewed": ("claim_incident", "renewed"),
    "released": ("release_incident", "released"),
    "fix_reported": ("report_fix_status", "success"),
    "needs_review": ("report_fix_status", "needs_review"),
    "pr_opened": ("submit_fix", "pr_opened"),
    "pr_updated": ("submit_fix", "pr_updated"),
    "patch_pushed": ("submit_fix", "patch_pushed"),
    "approval_requested": ("submit_fix", "held_for_approval"),
    "fix_refused": ("submit_fix", "refused"),
}
_FAILED_EVENTS = ("fix_failed", "dead_lettered")

_LEG_METRICS = {
    Leg.to_pr: ("healer_time_to_pr_seconds", "From an incident's first report to its first pull request."),
    Leg.to_merge: ("healer_time_to_merge_seconds", "From a pull request opened to its merge."),
    Leg.to_verified: ("healer_time_to_verified_seconds", "From a merge to the incident verified fixed."),
}


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LOOP_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.total += seconds
        for index, bound in enumerate(LOOP_BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1
                return
        self.counts[-1] += 1

    def buckets(self) -> list[tuple[str, float]]:
        running = 0
        out = []
        for bound, count in zip([*LOOP_BUCKETS, float("inf")], self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


class TimelineTally:
    """Running totals over the timeline, advanced by the rows added since the last reading."""

    def __init__(self) -> None:
        self.cursor = TimelineCursor(0)
        self.received: Counter[tuple[str, str]] = Counter()
        self.occurrences: Counter[str] = Counter()
        self.transitions: Counter[tuple[str, str]] = Counter()
        self.attempts: Counter[str] = Counter()
        self.agent_calls: Counter[tuple[str, str]] = Counter()
        self.legs = {leg: _Histogram() for leg in Leg}

    def advance(self, connection: Connection, batch: int = 20_000) -> None:
        detail = timeline.c.detail
        columns = [
            timeline.c.id,
            timeline.c.actor,
            timeline.c.event,
            detail["from"].as_string().label("frm"),
            detail["to"].as_string().label("to"),
            detail["source"].as_string().label("source"),
            detail["severity"].as_string().label("severity"),
        ]
        while True:
            rows = connection.execute(
                select(*columns).where(self.cursor.wanted()).order_by(timeline.c.id).limit(batch)
            ).all()
            fresh = set(self.cursor.seen([row.id for row in rows]))
            milestones = []
            for row in rows:
                if row.id in fresh and self._count(row):
                    milestones.append(row.id)
            if milestones:
                for found in durations(connection, timeline.c.id.in_(milestones)):
                    self.legs[found.leg].observe(found.seconds)
            if len(rows) < batch:
                return

    def _count(self, row: Any) -> bool:
        """Add one row to the totals; True when it may complete a leg of the loop."""
        event = row.event
        if event == "received":
            self.received[(row.source or "unknown", row.severity or "unknown")] += 1
            return False
        if event == "occurrence":
            self.occurrences[row.source or "unknown"] += 1
            return False
        if row.frm and row.to:
            self.transitions[(row.frm, row.to)] += 1
        outcome = ATTEMPT_OUTCOMES.get(event)
        if event == "released" and row.frm == Status.fixing.value:
            outcome = "abandoned"  # the process running the fix went away
        if outcome is not None:
            self.attempts[outcome] += 1
        if row.actor.startswith("agent:"):
            call = AGENT_CALLS.get(event)
            if event in _FAILED_EVENTS:
                call = ("submit_fix" if row.frm == Status.fixing.value else "report_fix_status", "failed")
            if call is not None:
                self.agent_calls[call] += 1
        return event in ("pr_opened", "fix_reported", "pr_merged") or row.to == Status.verified.value


class StoreCollector(Collector):
    """Reads the store on each scrape; register it on a CollectorRegistry."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tally = TimelineTally()
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock, self.store.read() as connection:
            self.tally.advance(connection)
            yield from self._timeline_metrics()
            yield from _state_metrics(connection)
            yield from _delivery_metrics(connection)

    def _timeline_metrics(self) -> Iterable[Metric]:
        tally = self.tally
        received = CounterMetricFamily(
            "healer_incidents_received", "Incidents opened, by source and severity.", labels=["source", "severity"]
        )
        for (source, severity), count in sorted(tally.received.items()):
            received.add_metric([source, severity], count)
        yield received
        repeats = CounterMetricFamily(
            "healer_incident_occurrences",
            "Repeat reports folded into an open incident, by source.",
            labels=["source"],
        )
        for source, count in sorted(tally.occurrences.items()):
            repeats.add_metric([source], count)
        yield repeats
        moves = CounterMetricFamily(
            "healer_state_transitions", "Lifecycle transitions, by state left and entered.", labels=["from", "to"]
        )
        for (frm, to), count in sorted(tally.transitions.items()):
            moves.add_metric([frm, to], count)
        yield moves
        attempts = CounterMetricFamily("healer_fix_attempts", "Fix attempts, by how they ended.", labels=["outcome"])
        for outcome, count in sorted(tally.attempts.items()):
            attempts.add_metric([outcome], count)
        yield attempts
        calls = CounterMetricFamily(
            "healer_agent_tool_calls",
            "Agents' tool calls that changed an incident, by tool and outcome.",
            labels=["tool", "outcome"],
        )
        for (tool, outcome), count in sorted(tally.agent_calls.items()):
            calls.add_metric([tool, outcome], count)
        yield calls
        for leg, (name, text) in _LEG_METRICS.items():
            histogram = tally.legs[leg]
            family = HistogramMetricFamily(name, text)
            family.add_metric([], histogram.buckets(), sum_value=histogram.total)
            yield family


def _state_metrics(connection: Connection) -> Iterable[Metric]:
    counts: dict[str, int] = dict(
        connection.execute(select(incidents.c.status, func.count()).group_by(incidents.c.status)).all()
    )
    states = GaugeMetricFamily("healer_incidents", "Incidents in each state now.", labels=["status"])
    for status in Status:
        states.add_metric([status.value], counts.get(status.value, 0))
    yield states
    claims = connection.execute(
        select(func.count()).where(
            incidents.c.claim_expires_at.is_not(None),
            incidents.c.status.in_([Status.claimed.value, Status.fixing.value]),
        )
    ).scalar_one()
    yield GaugeMetricFamily("healer_open_claims", "Incidents an agent holds a lease on.", value=claims)


def _delivery_metrics(connection: Connection) -> Iterable[Metric]:
    outcome = github_deliveries.c.outcome
    result = case(
        (github_deliveries.c.processed_at.is_(None), "pending"),
        (outcome.like("failed%"), "failed"),
        (outcome.like("ignored%"), "ignored"),
        else_="applied",
    )
    webhooks = GaugeMetricFamily(
        "healer_webhook_deliveries",
        "GitHub webhook deliveries recorded, by result (pending until processed).",
        labels=["result"],
    )
    found: dict[str, int] = dict(connection.execute(select(result, func.count()).group_by(result)).all())
    for name in ("applied", "ignored", "failed", "pending"):
        webhooks.add_metric([name], found.get(name, 0))
    yield _as_counter(webhooks, "healer_webhook_deliveries", exclude="pending")
    sent = CounterMetricFamily(
        "healer_notification_deliveries",
        "Notifications finished, by channel and result (delivered, folded into a storm summary, failed).",
        labels=["channel", "result"],
    )
    depth_pending = 0
    for channel, state, count in connection.execute(
        select(outbox_deliveries.c.channel, outbox_deliveries.c.state, func.count()).group_by(
            outbox_deliveries.c.channel, outbox_deliveries.c.state
        )
    ):
        if state == "pending":
            depth_pending += count
        else:
            sent.add_metric([channel, state], count)
    yield sent
    unexpanded = connection.execute(select(func.count()).where(outbox.c.expanded.is_(False))).scalar_one()
    depth = GaugeMetricFamily(
        "healer_outbox_depth",
        "Notifications waiting: events not yet fanned out to channels, and channel deliveries not yet sent.",
        labels=["kind"],
    )
    depth.add_metric(["events"], unexpanded)
    depth.add_metric(["deliveries"], depth_pending)
    yield depth


def _as_counter(gauge: GaugeMetricFamily, name: str, *, exclude: str) -> Metric:
    """Finished results only, as a counter (a pending delivery is not finished and may still change)."""
    counter = CounterMetricFamily(name, gauge.documentation, labels=["result"])
    for sample in gauge.samples:
        if sample.labels["result"] != exclude:
            counter.add_metric([sample.labels["result"]], sample.value)
    return counter
