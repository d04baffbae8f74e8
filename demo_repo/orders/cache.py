"""A read-through cache for order lookups."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class OrderCache:
    """Keeps recently read orders; ``max_entries`` bounds how many."""

    def __init__(self, loader: Callable[[str], dict[str, object]], max_entries: int = 1000) -> None:
        self.loader = loader
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dict[str, object]] = OrderedDict()

    def get(self, order_id: str) -> dict[str, object]:
        if order_id in self._entries:
            self._entries.move_to_end(order_id)
            return self._entries[order_id]
        order = self.loader(order_id)
        self._entries[order_id] = order
        return order

    def __len__(self) -> int:
        return len(self._entries)
