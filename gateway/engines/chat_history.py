"""The cascade engine's conversation as chat-completions messages, kept valid and true to what the caller heard.

Two rules of the chat API shape this: every assistant ``tool_calls`` message must be followed by one ``tool``
message per call id, and nothing else may come between. Caller speech can be recognized while a tool runs, so tool
results are stored with their assistant message and serialized right after it when a request is built; a call
whose result never came (the caller interrupted and the tool was abandoned) is answered with an error the model can
understand. And what the model "said" is trimmed to what the caller actually heard when they interrupt it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

INTERRUPTED_RESULT = json.dumps(
    {"ok": False, "error": {"code": "interrupted", "message": "The caller interrupted before this tool finished."}}
)
MAX_SPOKEN_ITEMS = 32


@dataclass(slots=True)
class ToolCallRecord:
    call_id: str
    name: str
    arguments: str
    result: str | None = None


@dataclass(slots=True)
class Entry:
    role: str  # system | user | assistant
    content: str
    item_id: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        if self.role != "assistant" or not self.tool_calls:
            return [{"role": self.role, "content": self.content}]
        calls = [
            {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in self.tool_calls
        ]
        first: dict[str, Any] = {"role": "assistant", "content": self.content or None, "tool_calls": calls}
        results = [{"role": "tool", "tool_call_id": c.call_id, "content": c.result or INTERRUPTED_RESULT} for c in self.tool_calls]
        return [first, *results]


@dataclass(slots=True)
class Spoken:
    """The sentences of one assistant item in the order they were synthesized, with their audio length."""

    segments: list[tuple[str, float]] = field(default_factory=list)

    def heard(self, played_ms: float) -> str:
        """The text the caller heard by ``played_ms``: whole sentences, then a proportional part of the current one."""
        out, elapsed = [], 0.0
        for text, ms in self.segments:
            if elapsed + ms <= played_ms:
                out.append(text)
                elapsed += ms
                continue
            if ms > 0 and played_ms > elapsed:
                out.append(text[: int(len(text) * (played_ms - elapsed) / ms)])
            break
        return "".join(out)


class ChatHistory:
    def __init__(self, seed: list[tuple[str, str]] | None = None) -> None:
        self.entries: list[Entry] = []
        self._spoken: OrderedDict[str, Spoken] = OrderedDict()
        for role, text in seed or []:
            self.add(role, text)

    def add(self, role: str, text: str, item_id: str = "") -> Entry:
        entry = Entry(role if role in ("user", "assistant") else "system", text, item_id)
        self.entries.append(entry)
        return entry

    def assistant(self, item_id: str) -> Entry:
        """Open the agent's next message; its text and tool calls are filled in as they stream."""
        return self.add("assistant", "", item_id)

    def discard_if_empty(self, entry: Entry) -> None:
        if not entry.content and not entry.tool_calls and entry in self.entries:
            self.entries.remove(entry)

    def pending_calls(self) -> list[ToolCallRecord]:
        return [c for e in self.entries for c in e.tool_calls if c.result is None]

    # --- what was spoken -------------------------------------------------------------------------------------------
    def spoken(self, item_id: str, text: str, audio_ms: float, new_segment: bool) -> None:
        spoken = self._spoken.get(item_id)
        if spoken is None:
            spoken = self._spoken[item_id] = Spoken()
            while len(self._spoken) > MAX_SPOKEN_ITEMS:
                self._spoken.popitem(last=False)
        if new_segment or not spoken.segments:
            spoken.segments.append((text, audio_ms))
        else:
            last_text, ms = spoken.segments[-1]
            spoken.segments[-1] = (last_text, ms + audio_ms)

    def tool_results(self) -> str:
        """Everything the tools returned so far, as one text (the call's context for readings)."""
        return "\n".join(c.result for e in self.entries for c in e.tool_calls if c.result)

    def spoken_text(self, item_id: str) -> str:
        spoken = self._spoken.get(item_id)
        return "".join(t for t, _ in spoken.segments) if spoken else ""

    def truncate(self, item_id: str, played_ms: int) -> str | None:
        """Trim the item's text to what was heard; returns that text (None if the item is unknown)."""
        spoken = self._spoken.get(item_id)
        entry = next((e for e in reversed(self.entries) if e.item_id == item_id), None)
        if spoken is None or entry is None:
            return None
        heard = spoken.heard(played_ms)
        entry.content = heard
        self.discard_if_empty(entry)
        return heard

    # --- requests ----------------------------------------------------------------------------------------------------
    def request(self, system: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for entry in self.entries:
            if entry.role == "assistant" and not entry.content and not entry.tool_calls:
                continue  # a message still streaming, or one the caller never heard
            messages.extend(entry.messages())
        return messages

    def pairs(self) -> list[tuple[str, str]]:
        """The conversation as (role, text) turns, the form other engines and channels continue from."""
        out: list[tuple[str, str]] = []
        for entry in self.entries:
            if entry.content:
                out.append((entry.role, entry.content))
            for call in entry.tool_calls:
                out.append(("system", f"[{call.name}({call.arguments}) → {call.result or INTERRUPTED_RESULT}]"))
        return out
