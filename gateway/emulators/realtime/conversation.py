"""The conversation of a Realtime session: its items and the ``conversation.item.*`` client events.

``ConversationMixin`` is mixed into ``RealtimeSession`` (see ``session.py``), which owns the state it uses;
``ResponseEngine`` adds the assistant's items through ``add_item``.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from .records import FunctionCallOutputRecord, TruncateRecord
from .wire import new_id

if TYPE_CHECKING:
    from .dialect import EventNames
    from .emulator import RealtimeEmulator
    from .records import SessionRecord
    from .responses import ResponseEngine
    from .wire import EventSender


class ConversationMixin:
    """Items in conversation order, and the client events that create, delete, retrieve or truncate them."""

    emulator: RealtimeEmulator
    record: SessionRecord
    names: EventNames
    sender: EventSender
    engine: ResponseEngine
    _item_ids: list[str]
    _last_user_text: str | None
    _tool_outputs: dict[str, str]
    _last_tool_output: str | None

    def add_item(self, item: dict[str, Any], after: str | None = None, *, root: bool = False) -> str | None:
        """Put an item into the conversation (at the end, after ``after``, or first); returns the previous id."""
        if root:
            index = 0
        elif after is not None:
            index = self._item_ids.index(after) + 1
        else:
            index = len(self._item_ids)
        previous = self._item_ids[index - 1] if index > 0 else None
        self._item_ids.insert(index, item["id"])
        self.record.items.insert(index, item)
        return previous

    def previous_item_id(self, item_id: str) -> str | None:
        try:
            index = self._item_ids.index(item_id)
        except ValueError:
            return None
        return self._item_ids[index - 1] if index > 0 else None

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in ("message", "function_call", "function_call_output"):
            await self.sender.error("invalid_value", "Invalid 'item': expected a message, function_call or "
                                    "function_call_output.", param="item", client_event_id=eid)  # fmt: skip
            return
        item = copy.deepcopy(item)
        item.setdefault("id", new_id("item"))
        if item["id"] in self._item_ids:
            await self.sender.error("invalid_value", f"Item with id '{item['id']}' already exists.",
                                    param="item.id", client_event_id=eid)  # fmt: skip
            return
        if item["type"] == "message" and item.get("role") not in ("user", "assistant", "system"):
            await self.sender.error("invalid_value", "Invalid 'item.role'.", param="item.role", client_event_id=eid)
            return
        if item["type"] == "function_call_output":
            call_id = str(item.get("call_id") or "")
            known = {i.get("call_id") for i in self.record.items if i.get("type") == "function_call"}
            if self.emulator.config.strict and call_id not in known:
                await self.sender.error("invalid_value", f"Tool call ID '{call_id}' not found in conversation.",
                                        param="item.call_id", client_event_id=eid)  # fmt: skip
                return
        previous_id = event.get("previous_item_id")
        if previous_id is not None and previous_id != "root" and previous_id not in self._item_ids:
            await self.sender.error("invalid_value", f"Previous item with id '{previous_id}' not found.",
                                    param="previous_item_id", client_event_id=eid)  # fmt: skip
            return
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        previous = self.add_item(item, after=previous_id if previous_id != "root" else None,
                                 root=previous_id == "root")  # fmt: skip
        self.record.created_items.append(copy.deepcopy(item))
        if item["type"] == "function_call_output":
            output = str(item.get("output", ""))
            call_id = str(item.get("call_id") or "")
            self.record.function_call_outputs.append(FunctionCallOutputRecord(call_id, output, time.monotonic()))
            self._tool_outputs[call_id] = output
            name = next((i.get("name") for i in self.record.items if i.get("type") == "function_call"
                         and i.get("call_id") == call_id), None)  # fmt: skip
            if name:
                self._tool_outputs[str(name)] = output
            self._last_tool_output = output
        elif item["type"] == "message" and item.get("role") == "user":
            texts = [c.get("text") for c in item.get("content") or [] if isinstance(c, dict) and c.get("text")]
            if texts:
                self._last_user_text = " ".join(str(t) for t in texts)
        await self.sender.send({"type": self.names.item_added, "previous_item_id": previous, "item": item})
        if self.names.item_done is not None:
            await self.sender.send({"type": self.names.item_done, "previous_item_id": previous, "item": item})

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._item_ids:
            await self.sender.error("invalid_value", f"Item with id '{item_id}' not found.", param="item_id",
                                    client_event_id=event.get("event_id"))  # fmt: skip
            return
        index = self._item_ids.index(item_id)
        del self._item_ids[index]
        del self.record.items[index]
        await self.sender.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.record.item(str(event.get("item_id")))
        if item is None:
            await self.sender.error("invalid_value", f"Item with id '{event.get('item_id')}' not found.",
                                    param="item_id", client_event_id=event.get("event_id"))  # fmt: skip
            return
        await self.sender.send({"type": "conversation.item.retrieved", "item": item})

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item_id = str(event.get("item_id"))
        content_index = event.get("content_index", 0)
        end_ms = event.get("audio_end_ms")
        out = self.engine.outputs_by_item.get(item_id)
        if self.record.item(item_id) is None and out is None:
            await self.sender.error("invalid_value", f"Item with id '{item_id}' not found.", param="item_id",
                                    client_event_id=eid)  # fmt: skip
            return
        if out is None or out.kind != "message" or not out.pcm:
            await self.sender.error("invalid_value", "Only assistant messages with audio can be truncated.",
                                    param="item_id", client_event_id=eid)  # fmt: skip
            return
        if content_index != 0:
            await self.sender.error("invalid_value", f"Invalid content_index: {content_index}.",
                                    param="content_index", client_event_id=eid)  # fmt: skip
            return
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            await self.sender.error("invalid_value", "Invalid 'audio_end_ms'.", param="audio_end_ms",
                                    client_event_id=eid)  # fmt: skip
            return
        if end_ms > out.sent_ms + 1:
            await self.sender.error(
                "invalid_value", f"Audio content of {out.sent_ms:.0f}ms is already shorter than {end_ms}ms",
                param="audio_end_ms", client_event_id=eid,
            )  # fmt: skip
            return
        self.record.truncates.append(TruncateRecord(item_id, content_index, end_ms, out.sent_ms, time.monotonic()))
        await self.sender.send({"type": "conversation.item.truncated", "item_id": item_id,
                                "content_index": content_index, "audio_end_ms": end_ms})  # fmt: skip
