"""OpenAI-compatible Chat Completions emulator (OpenAI, Azure OpenAI deployments and Azure OpenAI v1 routes).

Routes (all ``POST``):

* ``/v1/chat/completions`` (OpenAI; ``Authorization: Bearer KEY``)
* ``/openai/deployments/{deployment}/chat/completions?api-version=...`` (Azure; ``api-key: KEY``; api-version
  required, like the real service)
* ``/openai/v1/chat/completions`` (Azure v1 / GA)

A **script** decides the replies: an ordered list of steps, one consumed per completion request. A step is a text
reply (``str`` or ``Reply``), a tool call (``ToolCall``, or a list of them for parallel calls), an error (``Fail``),
or a callable ``(ChatRequest) -> step`` that can look at the request, e.g. at the tool result the client sent back.
When the script runs out, ``default_reply`` answers (a short Japanese echo of the caller's last words).

A non-streaming request without tools is taken as a *summary* request and answered by ``summary`` (the script is
not consumed) unless ``summary=None``.

Streaming follows the OpenAI wire format: SSE ``data: {chunk}`` lines, text split sentence by sentence into small
``delta.content`` pieces with a pause after each sentence, tool calls as ``delta.tool_calls`` whose ``arguments``
arrive in pieces, ``finish_reason`` ``stop`` or ``tool_calls``, then ``data: [DONE]``. Azure routes start with a
``choices: []`` chunk carrying ``prompt_filter_results``, as Azure does.

The request is checked loosely, with OpenAI-style errors (``{"error": {"message", "type", "param", "code"}}``):
401 for a missing or wrong key, 400 for a malformed body, unknown roles, bad tools, or a broken tool-call
sequence (a ``tool`` message answering no preceding ``tool_calls``, or an assistant ``tool_calls`` message not
followed by a ``tool`` message for every id, as the real API insists).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request

logger = logging.getLogger(__name__)

DEFAULT_KEY = "chat-key"
DEFAULT_MODEL = "gpt-4o-mini"
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SENTENCE = re.compile(r".+?(?:[。．！？!?]+|[.](?=\s|$)|\n+|$)", re.S)


# ------------------------------------------------------------------------------------------------------- steps
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


# ------------------------------------------------------------------------------------------------------ records
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


def default_reply(req: ChatRequest) -> str:
    """The demo reply: a short Japanese acknowledgement echoing the caller's last words."""
    said = req.last_user_text.strip()
    if not said:
        return "お電話ありがとうございます。ご用件をお話しください。"
    return f"「{said[:60]}」ですね。承知しました。ほかにご用件はございますか？"


def default_summary(req: ChatRequest) -> str:
    """A fixed-template summary quoting the conversation's first and last user messages."""
    users = [t for t in req.texts("user") if t.strip()]
    first = users[0].strip()[:80] if users else ""
    last = users[-1].strip()[:80] if users else ""
    return f"要約: お客様のご用件は「{first}」。最後のご発言は「{last}」。メッセージ数 {len(req.messages)}。"


class _ScriptError(Exception):
    pass


class ChatEmulator:
    """Chat Completions stand-in. Serve ``.app`` and point ``AsyncOpenAI(base_url=url + "/v1")`` or
    ``AsyncAzureOpenAI(azure_endpoint=url)`` at it."""

    def __init__(
        self,
        keys: Iterable[str] = (DEFAULT_KEY,),
        script: Sequence[Step] = (),
        *,
        default: Callable[[ChatRequest], Any] = default_reply,
        summary: Callable[[ChatRequest], str] | None = default_summary,
        first_delta_delay: float = 0.05,
        delta_delay: float = 0.01,
        sentence_delay: float = 0.1,
        delta_chars: int = 4,
        argument_chars: int = 8,
    ) -> None:
        self.keys = set(keys)
        self.script: list[Step] = list(script)
        self.default = default
        self.summary = summary
        self.first_delta_delay = first_delta_delay
        self.delta_delay = delta_delay
        self.sentence_delay = sentence_delay
        self.delta_chars = delta_chars
        self.argument_chars = argument_chars
        self.position = 0  # script steps consumed
        self.requests: list[ChatRequest] = []
        self.app = self._build_app()

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def completions(self) -> list[ChatRequest]:
        """Requests that were answered with a completion (not errors)."""
        return [r for r in self.requests if r.status == 200]

    def add(self, *steps: Step) -> None:
        self.script.extend(steps)

    def reset(self, script: Sequence[Step] | None = None) -> None:
        if script is not None:
            self.script = list(script)
        self.position = 0
        self.requests.clear()

    async def wait_for(self, predicate: Callable[[], bool], limit: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (polled every 20 ms); ``TimeoutError`` after ``limit`` seconds."""
        for _ in range(max(1, round(limit / 0.02))):
            if predicate():
                return
            await asyncio.sleep(0.02)
        if not predicate():
            raise TimeoutError(f"chat emulator: condition not met within {limit} s")

    # ---------------------------------------------------------------------------------------------------- app
    def _build_app(self) -> Quart:
        app = Quart("gateway.emulators.chat")
        app.config["RESPONSE_TIMEOUT"] = None

        async def openai_route() -> Response:
            return await self._handle("openai", None)

        async def azure_route(deployment: str) -> Response:
            return await self._handle("azure", deployment)

        async def azure_v1_route() -> Response:
            return await self._handle("azure-v1", None)

        app.add_url_rule("/v1/chat/completions", "openai", openai_route, methods=["POST"])
        app.add_url_rule("/openai/deployments/<deployment>/chat/completions", "azure", azure_route, methods=["POST"])
        app.add_url_rule("/openai/v1/chat/completions", "azure_v1", azure_v1_route, methods=["POST"])
        return app

    async def _handle(self, route: str, deployment: str | None) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("authorization", "api-key")}
        raw = await request.get_data(as_text=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = ChatRequest(
            path=request.path,
            route=route,
            body=body if isinstance(body, dict) else {},
            headers=headers,
            deployment=deployment,
            api_version=request.args.get("api-version"),
        )
        self.requests.append(req)
        auth = request.headers.get("Authorization", "")
        key = request.headers.get("api-key") or (auth[7:].strip() if auth.lower().startswith("bearer ") else "")
        if not key or key not in self.keys:
            shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            return self._error(
                req, 401, f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key"
            )
        if route == "azure" and not req.api_version:
            return self._error(
                req,
                400,
                "The api-version query parameter (?api-version=) is required for all requests.",
                "invalid_request_error",
                "MissingApiVersionParameter",
            )
        if not isinstance(body, dict):
            return self._error(
                req, 400, "We could not parse the JSON body of your request.", "invalid_request_error", None
            )
        problem = _validate(req)
        if problem:
            return self._error(req, 400, problem[0], "invalid_request_error", None, problem[1])
        try:
            if self.summary is not None and not req.stream and not req.tools:
                req.kind = "summary"
                return self._complete(req, {"text": self.summary(req)})
            answer = self._next_answer(req)
        except _ScriptError as exc:
            return self._error(req, 400, f"chat emulator script: {exc}", "invalid_request_error", "emulator_script")
        if "fail" in answer:
            fail: Fail = answer["fail"]
            return self._error(req, fail.status, fail.message, fail.type, fail.code)
        if req.stream:
            return self._stream(req, answer)
        return self._complete(req, answer)

    # --------------------------------------------------------------------------------------------- the script
    def _next_answer(self, req: ChatRequest) -> dict[str, Any]:
        if self.position < len(self.script):
            step = self.script[self.position]
            answer = self._resolve(step, req)  # may raise: the step is then not consumed
            self.position += 1
            return answer
        return self._resolve(self.default, req)

    def _resolve(self, step: Any, req: ChatRequest, depth: int = 0) -> dict[str, Any]:
        if depth > 5:
            raise _ScriptError("callable steps nested too deeply")
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
                    raise _ScriptError(f"tool {call.name!r} is not among the request's tools {offered}")
                args = call.arguments(req) if callable(call.arguments) else call.arguments
                args_json = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
                calls.append({"id": call.id or _call_id(), "name": call.name, "arguments": args_json})
            return {"tool_calls": calls}
        if callable(step):
            return self._resolve(step(req), req, depth + 1)
        raise _ScriptError(f"unsupported step {step!r}")

    # ------------------------------------------------------------------------------------------------ replies
    def _error(
        self, req: ChatRequest, status: int, message: str, type_: str, code: str | None, param: str | None = None
    ) -> Response:
        req.status = status
        req.kind = "error"
        req.error = {"message": message, "type": type_, "param": param, "code": code}
        req.completed = True
        return Response(
            json.dumps({"error": req.error}, ensure_ascii=False),
            status,
            mimetype="application/json",
            headers={"x-request-id": _req_id()},
        )

    def _complete(self, req: ChatRequest, answer: dict[str, Any]) -> Response:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if "tool_calls" in answer:
            req.kind = "tool_calls"
            req.tool_calls = answer["tool_calls"]
            message["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                for c in answer["tool_calls"]
            ]
            finish = "tool_calls"
        else:
            req.kind = req.kind or "text"
            req.reply_text = req.planned_text = answer["text"]
            message["content"] = answer["text"]
            finish = "stop"
        body = {
            "id": _completion_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or DEFAULT_MODEL,
            "system_fingerprint": "fp_emulator",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(req, answer),
        }
        req.first_delta_at = time.monotonic()
        req.completed = True
        return Response(
            json.dumps(body, ensure_ascii=False), 200, mimetype="application/json", headers={"x-request-id": _req_id()}
        )

    def _stream(self, req: ChatRequest, answer: dict[str, Any]) -> Response:
        return Response(
            self._chunks(req, answer),
            200,
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache", "x-request-id": _req_id()},
        )

    async def _chunks(self, req: ChatRequest, answer: dict[str, Any]) -> AsyncIterator[bytes]:
        completion_id = _completion_id()
        created = int(time.time())
        model = req.model or DEFAULT_MODEL

        def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
            body: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_emulator",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            body.update(extra)
            return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"

        if req.route != "openai":
            yield chunk(None, prompt_filter_results=[{"prompt_index": 0, "content_filter_results": {}}])
        if self.first_delta_delay:
            await asyncio.sleep(self.first_delta_delay)
        req.first_delta_at = time.monotonic()
        if "tool_calls" in answer:
            req.kind = "tool_calls"
            req.tool_calls = answer["tool_calls"]
            yield chunk({"role": "assistant", "content": None, "refusal": None})
            for index, call in enumerate(answer["tool_calls"]):
                yield chunk(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["name"], "arguments": ""},
                            }
                        ]
                    }
                )
                args = call["arguments"]
                step = max(1, self.argument_chars)
                for pos in range(0, len(args), step):
                    await asyncio.sleep(self.delta_delay)
                    yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[pos : pos + step]}}]})
            finish = "tool_calls"
        else:
            req.kind = req.kind or "text"
            text = req.planned_text = answer["text"]
            size = max(1, answer.get("delta_chars") or self.delta_chars)
            pause = answer.get("sentence_delay")
            pause = self.sentence_delay if pause is None else pause
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            for n, sentence in enumerate(split_sentences(text)):
                if n and pause:
                    await asyncio.sleep(pause)
                for pos in range(0, len(sentence), size):
                    if pos and self.delta_delay:
                        await asyncio.sleep(self.delta_delay)
                    piece = sentence[pos : pos + size]
                    req.reply_text += piece
                    yield chunk({"content": piece})
            finish = "stop"
        yield chunk({}, finish)
        options = req.body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            yield chunk(None, usage=_usage(req, answer))
        yield b"data: [DONE]\n\n"
        req.completed = True


def split_sentences(text: str) -> list[str]:
    """Split after Japanese or Latin sentence ends (and newlines), keeping the punctuation with the sentence."""
    parts = [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]
    return parts or ([text] if text else [])


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


def _validate(req: ChatRequest) -> tuple[str, str] | None:
    """A problem with the request as (message, param), or None."""
    body = req.body
    if req.route != "azure" and not body.get("model"):
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that asked
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"Invalid type for 'messages[{i}]': expected an object", f"messages[{i}]"
        role = m.get("role")
        if role not in ROLES:
            return (
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                f"messages[{i}].role",
            )
        if role != "tool" and pending:
            ids = ", ".join(pending)
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
                f"messages.[{i}].role",
            )
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            del pending[call_id]
            continue
        if role == "assistant":
            calls = m.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    return "Invalid type for 'tool_calls': expected an array", f"messages[{i}].tool_calls"
                for call in calls:
                    fn = call.get("function") if isinstance(call, dict) else None
                    if not isinstance(fn, dict) or not call.get("id") or not isinstance(fn.get("arguments"), str):
                        return (
                            "Invalid tool call: expected 'id', 'type', and 'function' with 'name' and "
                            "string 'arguments'",
                            f"messages[{i}].tool_calls",
                        )
                    pending[str(call["id"])] = i
            if m.get("content") is None and not calls:
                return ("Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content")
        elif not isinstance(m.get("content"), str | list):
            return (
                f"Invalid type for 'messages[{i}].content': expected one of a string or array of objects",
                f"messages[{i}].content",
            )
    if pending:
        ids = ", ".join(pending)
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
            "messages",
        )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array", "tools"
        for j, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
                return f"Invalid value for 'tools[{j}]': expected a function tool", f"tools[{j}]"
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                return (
                    f"Invalid 'tools[{j}].function.name': string does not match pattern. Expected a string "
                    "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{j}].function.name",
                )
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                return f"Invalid type for 'tools[{j}].function.parameters': expected an object", f"tools[{j}]"
    return None


def _usage(req: ChatRequest, answer: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(content_text(m.get("content"))) for m in req.messages) // 2 + 4 * len(req.messages)
    if "tool_calls" in answer:
        completion = sum(len(c["arguments"]) // 3 + 5 for c in answer["tool_calls"])
    else:
        completion = max(1, len(answer.get("text", "")) // 2)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _rand(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _call_id() -> str:
    return "call_" + _rand(24)


def _completion_id() -> str:
    return "chatcmpl-" + _rand(29)


def _req_id() -> str:
    return "req_" + secrets.token_hex(16)
