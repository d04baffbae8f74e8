"""Occurrences over time as a small SVG bar chart, drawn on the server (no script, no library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, cast, func, select

from server.store.schema import timeline

#: Bucket widths tried in order until the incident's span fits in MAX_BARS bars.
WIDTHS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
)
MAX_BARS = 48
MIN_BARS = 12


@dataclass(frozen=True)
class Series:
    start: datetime
    width: timedelta
    counts: list[int]
    #: Where the axis ends: the moment the chart was drawn, inside the last bucket.
    end: datetime


def _width(first: datetime, last: datetime) -> timedelta:
    span = last - first
    for width in WIDTHS:
        if span / width < MAX_BARS:
            return width
    return WIDTHS[-1]


def occurrences(connection: Connection, incident_pk: int, first: datetime, last: datetime, now: datetime) -> Series:
    """Reports of one incident (its first and every repeat) counted per time bucket, in SQL.

    The last bucket is the one holding ``now``: the axis ends at the present, never in the future.
    When the incident is younger than MIN_BARS buckets, the earlier buckets are empty ones before it.
    """
    end = max(now, last)
    width = _width(first, end)
    seconds = int(width.total_seconds())
    last_slot = int(end.timestamp()) // seconds
    bars = min(max(MIN_BARS, last_slot - int(first.timestamp()) // seconds + 1), MAX_BARS * 2)
    origin = (last_slot - bars + 1) * seconds
    if connection.dialect.name == "sqlite":
        epoch: ColumnElement[Any] = cast(func.strftime("%s", timeline.c.at), Integer)
    else:
        epoch = func.floor(func.extract("epoch", timeline.c.at))
    bucket = func.floor((epoch - origin) / seconds)
    rows = connection.execute(
        select(bucket.label("bucket"), func.count())
        .where(
            timeline.c.incident_pk == incident_pk,
            timeline.c.event.in_(["received", "occurrence"]),
            epoch >= origin,  # older than the first bar (a long history cut short); integer division would round it in
        )
        .group_by("bucket")
    ).all()
    counts = [0] * bars
    for index, count in rows:
        slot = int(index or 0)
        if 0 <= slot < len(counts):
            counts[slot] += int(count)
    return Series(start=datetime.fromtimestamp(origin, UTC), width=width, counts=counts, end=end)


def _label(width: timedelta) -> str:
    minutes = int(width.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 24 else f"{hours // 24} d"


def svg(series: Series, *, width: int = 480, height: int = 96) -> str:
    """The chart as SVG markup; every text in it escaped. Described for screen readers."""
    peak = max(series.counts) or 1
    total = sum(series.counts)
    bar = width / len(series.counts)
    end = series.end
    summary = (
        f"{total} report{'s' if total != 1 else ''} from {series.start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, "
        f"per {_label(series.width)}; at most {peak} in one"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 16}" width="{width}" height="{height + 16}" '
        f'role="img" aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" class="axis"/>',
    ]
    for index, count in enumerate(series.counts):
        if not count:
            continue
        tall = max(2.0, height * count / peak)
        moment = series.start + series.width * index
        parts.append(
            f'<rect x="{index * bar + 1:.1f}" y="{height - tall:.1f}" width="{max(1.0, bar - 2):.1f}" '
            f'height="{tall:.1f}"><title>{count} at {moment:%Y-%m-%d %H:%M} UTC</title></rect>'
        )
    parts.append(f'<text x="0" y="{height + 13}">{series.start:%m-%d %H:%M}</text>')
    parts.append(f'<text x="{width}" y="{height + 13}" text-anchor="end">{end:%m-%d %H:%M} UTC</text>')
    parts.append("</svg>")
    return "".join(parts)
