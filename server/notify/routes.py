"""Which channels hear about an event: ``[notify.routes]`` when present, else each channel's own ``events``."""

from __future__ import annotations

from collections.abc import Iterable

from server.notify.config import NotifyConfig
from server.notify.events import EventKind, NotificationEvent

#: What a channel hears by default: every kind a person may need to act on or know about.
DEFAULT_EVENTS: frozenset[EventKind] = frozenset(EventKind)


def channels_for(event: NotificationEvent, config: NotifyConfig, *, extra: Iterable[str] = ()) -> list[str]:
    """Channel names for ``event``, in configuration order, after each channel's severity and service filters.

    ``extra`` adds channels a routing rule named in its ``notify`` list (unknown names are ignored).
    """
    if config.routes is not None:
        wanted = set(config.routes.get(event.kind, ()))
    else:
        wanted = {
            name
            for name, channel in config.channels.items()
            if event.kind in (channel.events if channel.events is not None else DEFAULT_EVENTS)
        }
    wanted.update(extra)
    chosen: list[str] = []
    for name, channel in config.channels.items():
        if name not in wanted:
            continue
        if channel.min_severity is not None and event.severity.rank < channel.min_severity.rank:
            continue
        if channel.services is not None and event.service not in channel.services:
            continue
        chosen.append(name)
    return chosen
