"""Script steps of the chat emulator (text replies, tool calls, errors) and how a step becomes an answer."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.emulators.chat.records import ChatRequest
from gateway.emulators.chat.responses import call_id


@dataclass(slots=True)
class Reply:
    """A text reply. ``text`` may be a callable of the request. With ``format_tool_result`` the text is a
    ``str.format`` template filled from the last tool result: ``{result}`` is its raw content and, when it is a
    JSON object, its keys are available too (``{reservation_id}``); unknown keys render as ``?``."""

    text: str | Callable[[ChatRequest], str]
    format_tool_result: bool = False
    delta_chars: int | None = None  # characters per delta (default: the emulator's)
    sentence_delay: float | None = None  # pause after each sentence, seconds (default: the emulator's)


@dataclass(slots=True)
class ToolCall:
    """A function tool call. ``arguments`` is a dict (sent as JSON), a JSON string, or a callable of the request."""

    name: str
    arguments: dict[str, Any] | str | Callable[[ChatRequest], dict[str, Any] | str] = field(default_factory=dict)
    id: str | None = None  # default: a fresh ``call_...`` id


@dataclass(slots=True)
class Fail:
    """Answer with an HTTP error instead (e.g. 429 or 500 to test retries and fallbacks)."""

    status: int = 500
    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None


Step = str | Reply | ToolCall | list[ToolCall] | Fail | Callable[["ChatRequest"], Any]


def first_sentence(text: str, limit: int = 60) -> str:
    """The first sentence (whole, never cut mid-word; "…" after a comma when one sentence is very long)."""
    text = " ".join(text.split())
    sentence = re.split(r"(?<=[。！？!?])", text, maxsplit=1)[0] if text else ""
    if len(sentence) <= limit:
        return sentence
    cut = sentence.rfind("、", 0, limit)
    return sentence[: cut if cut > 0 else limit] + "…"


def _quote(text: str) -> str:
    """Up to two whole sentences for 「…」, without the closing 。 (…です」と)."""
    first = first_sentence(text)
    rest = first_sentence(text[len(first) :].strip()) if not first.endswith("…") else ""
    both = first + rest if rest and len(first + rest) <= 70 and not rest.endswith("…") else first
    return both.removesuffix("。")


def default_reply(req: ChatRequest) -> str:
    """The demo reply: a short Japanese acknowledgement echoing the caller's last words."""
    said = req.last_user_text.strip()
    if not said:
        return "お電話ありがとうございます。ご用件をお話しください。"
    return f"「{first_sentence(said)}」ですね。承知しました。ほかにご用件はございますか？"


def default_summary(req: ChatRequest) -> str:
    """A summary as a person would write it from the transcript the request carries (lines of ``role: text``):
    the caller's first request and the agent's last answer, whole sentences, no role prefixes."""
    lines = [line.partition(": ") for text in req.texts("user") for line in text.splitlines()]
    caller = [t for role, sep, t in lines if sep and role == "user" and t.strip()]
    agent = [t for role, sep, t in lines if sep and role == "assistant" and t.strip()]
    if not caller and not agent:  # not a transcript: summarise the messages themselves
        caller = [t for t in req.texts("user") if t.strip()]
    parts = [f"お客様は「{_quote(caller[0])}」とのご用件でした。" if caller else "お客様のご用件は聞き取れませんでした。"]
    if agent:
        parts.append(f"エージェントは「{_quote(agent[-1])}」とご案内しました。")
    return "".join(parts)


class ScriptError(Exception):
    pass


def resolve(step: Any, req: ChatRequest, depth: int = 0) -> dict[str, Any]:
    """The answer a script step gives to ``req``: ``{"text", ...}``, ``{"tool_calls"}`` or ``{"fail"}``."""
    if depth > 5:
        raise ScriptError("callable steps nested too deeply")
    if isinstance(step, Fail):
        req.kind = "error"
        return {"fail": step}
    if isinstance(step, str):
        return {"text": step}
    if isinstance(step, Reply):
        text = step.text(req) if callable(step.text) else step.text
        if step.format_tool_result:
            text = _format_with_tool_result(text, req)
        return {"text": text, "delta_chars": step.delta_chars, "sentence_delay": step.sentence_delay}
    if isinstance(step, ToolCall):
        step = [step]
    if isinstance(step, list) and step and all(isinstance(s, ToolCall) for s in step):
        calls = []
        offered = req.tool_names
        for call in step:
            if call.name not in offered:
                raise ScriptError(f"tool {call.name!r} is not among the request's tools {offered}")
            args = call.arguments(req) if callable(call.arguments) else call.arguments
            args_json = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            calls.append({"id": call.id or call_id(), "name": call.name, "arguments": args_json})
        return {"tool_calls": calls}
    if callable(step):
        return resolve(step(req), req, depth + 1)
    raise ScriptError(f"unsupported step {step!r}")


def _format_with_tool_result(template: str, req: ChatRequest) -> str:
    result = req.last_tool_result or (req.tool_results[-1] if req.tool_results else None)
    values: dict[str, Any] = {}
    if result is not None:
        values["result"] = result["content"]
        if isinstance(result["json"], dict):
            values.update(result["json"])

    class _Missing(dict):
        def __missing__(self, key: str) -> str:
            return "?"

    return string.Formatter().vformat(template, (), _Missing(values))
