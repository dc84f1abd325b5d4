"""The chat emulator's record of each completion request, with views of its messages."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ChatRequest:
    """One completion request as received, and what the emulator answered."""

    path: str
    route: str  # openai | azure | azure-v1
    body: dict[str, Any]
    headers: dict[str, str]
    deployment: str | None = None
    api_version: str | None = None
    received_at: float = field(default_factory=time.monotonic)
    status: int = 200
    kind: str = ""  # text | tool_calls | summary | error
    reply_text: str = ""  # the text delivered (for a stream the client closed early: what it received)
    planned_text: str = ""  # the whole text the script gave
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "name", "arguments"}]
    error: dict[str, Any] | None = None
    first_delta_at: float | None = None
    first_sentence_at: float | None = None  # the delta that completes the reply's first sentence went out
    completed: bool = False  # the whole reply was delivered (streams: [DONE] was sent)

    @property
    def model(self) -> str:
        return str(self.body.get("model") or self.deployment or "")

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return messages if isinstance(messages, list) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools")
        return tools if isinstance(tools, list) else []

    @property
    def tool_names(self) -> list[str]:
        return [str((t.get("function") or {}).get("name", "")) for t in self.tools if isinstance(t, dict)]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def roles(self) -> list[str]:
        return [str(m.get("role")) for m in self.messages]

    def texts(self, role: str) -> list[str]:
        return [content_text(m.get("content")) for m in self.messages if m.get("role") == role]

    @property
    def system_text(self) -> str:
        return "\n".join(self.texts("system") + self.texts("developer"))

    @property
    def last_user_text(self) -> str:
        users = self.texts("user")
        return users[-1] if users else ""

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool`` messages: ``{"tool_call_id", "name", "content", "json"}`` (``json`` parsed when possible)."""
        names: dict[str, str] = {}
        results = []
        for m in self.messages:
            for call in m.get("tool_calls") or []:
                if isinstance(call, dict):
                    names[str(call.get("id"))] = str((call.get("function") or {}).get("name", ""))
            if m.get("role") == "tool":
                content = content_text(m.get("content"))
                try:
                    parsed = json.loads(content)
                except ValueError:
                    parsed = None
                call_id = str(m.get("tool_call_id", ""))
                results.append(
                    {"tool_call_id": call_id, "name": names.get(call_id, ""), "content": content, "json": parsed}
                )
        return results

    @property
    def last_tool_result(self) -> dict[str, Any] | None:
        """The last ``tool`` message, if it is the newest thing in the conversation after the last user turn."""
        for m in reversed(self.messages):
            if m.get("role") == "tool":
                return self.tool_results[-1]
            if m.get("role") == "user":
                return None
        return None


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""
