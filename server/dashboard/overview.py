"""The overview: how many incidents are in each state, how fast the loop runs, where it is busy or stuck."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from server.dashboard.listing import ListQuery, ListRow, list_page
from server.models import Status
from server.observe.loop_times import LEG_LABELS, Leg, durations
from server.observe.stages import STAGE_OF, Stage
from server.store.queries import count_by_status
from server.store.schema import incidents, timeline

WINDOWS = {"24 h": timedelta(hours=24), "7 d": timedelta(days=7)}


@dataclass
class LegFigures:
    leg: Leg
    label: str
    count: int
    mean_seconds: float | None
    median_seconds: float | None


@dataclass
class Overview:
    by_status: dict[Status, int]
    by_stage: dict[Stage, int]
    total: int
    legs: dict[str, list[LegFigures]]
    busiest: list[tuple[str, int, int]]
    stuck: list[ListRow]


def _figures(values: list[float], leg: Leg) -> LegFigures:
    if not values:
        return LegFigures(leg, LEG_LABELS[leg], 0, None, None)
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return LegFigures(leg, LEG_LABELS[leg], len(values), sum(values) / len(values), median)


def build(connection: Connection, now: datetime) -> Overview:
    counts = count_by_status(connection)
    by_status = {status: counts.get(status.value, 0) for status in Status}
    by_stage = dict.fromkeys(Stage, 0)
    for status, count in by_status.items():
        by_stage[STAGE_OF[status]] += count
    since = now - max(WINDOWS.values())
    found = durations(connection, timeline.c.at >= since)
    legs = {}
    for window, span in WINDOWS.items():
        start = now - span
        legs[window] = [_figures([d.seconds for d in found if d.leg == leg and d.at >= start], leg) for leg in Leg]
    day = now - timedelta(hours=24)
    # Busiest over the last day: incidents seen in it, by service (a range scan of ix_incidents_last_seen).
    busiest_rows = connection.execute(
        select(incidents.c.service, func.count(), func.sum(incidents.c.occurrences))
        .where(incidents.c.last_seen >= day)
        .group_by(incidents.c.service)
        .order_by(func.count().desc(), incidents.c.service)
        .limit(8)
    ).all()
    stuck = list_page(connection, ListQuery(stages=[Stage.stuck], limit=25)).rows
    return Overview(
        by_status=by_status,
        by_stage=by_stage,
        total=sum(by_status.values()),
        legs=legs,
        busiest=[(service, int(count), int(seen or 0)) for service, count, seen in busiest_rows],
        stuck=stuck,
    )
