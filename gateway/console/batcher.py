"""Gathers the hub events of one feed window into one message for the page.

A speaking agent sends a transcript delta every few tens of milliseconds; hundreds of sessions doing that would
make the page parse and paint thousands of tiny messages a second. Within a window the deltas of one utterance
merge into one, a final transcript replaces the deltas it completes, and everything goes out as one message.
"""

from __future__ import annotations

from typing import Any

from ..events import HubEvent, TranscriptDelta, TranscriptFinal
from .wire import FIELD_LIMIT, event_json

_DeltaKey = tuple[str, str, str]  # session, role, item


class EventBatch:
    def __init__(self) -> None:
        self._items: list[dict[str, Any] | None] = []
        self._open: dict[_DeltaKey, int] = {}  # where each utterance's merged delta sits in _items
        self.received = 0

    def __len__(self) -> int:
        return self.received

    def add(self, session_id: str, event: HubEvent) -> None:
        self.received += 1
        if isinstance(event, TranscriptDelta):
            self._add_delta(session_id, event)
            return
        if isinstance(event, TranscriptFinal):
            where = self._open.pop((session_id, event.role, event.item_id), None)
            if where is not None:
                self._items[where] = None  # the final carries the whole utterance
        self._items.append(event_json(session_id, event))

    def _add_delta(self, session_id: str, event: TranscriptDelta) -> None:
        key = (session_id, event.role, event.item_id)
        where = self._open.get(key)
        if where is None:
            item = event_json(session_id, event)
            item["n"] = 1
            self._open[key] = len(self._items)
            self._items.append(item)
            return
        item = self._items[where]
        assert item is not None
        if len(item["text"]) < FIELD_LIMIT:
            item["text"] += event.text
        item["n"] += 1

    def take(self) -> list[dict[str, Any]]:
        """The window's items in arrival order; the batch starts empty again."""
        items = [item for item in self._items if item is not None]
        self._items = []
        self._open = {}
        self.received = 0
        return items
