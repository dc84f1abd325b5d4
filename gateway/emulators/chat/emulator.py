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

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from quart import Quart, Response, request

from gateway.emulators.chat.records import ChatRequest
from gateway.emulators.chat.responses import (
    completion_response,
    error_response,
    stream_response,
)
from gateway.emulators.chat.steps import (
    Fail,
    ScriptError,
    Step,
    default_reply,
    default_summary,
    resolve,
)
from gateway.emulators.chat.validation import validate
from gateway.emulators.polling import poll_until

DEFAULT_KEY = "chat-key"


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
        await poll_until(predicate, limit, "chat emulator")

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
            return error_response(
                req, 401, f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key"
            )
        if route == "azure" and not req.api_version:
            return error_response(
                req,
                400,
                "The api-version query parameter (?api-version=) is required for all requests.",
                "invalid_request_error",
                "MissingApiVersionParameter",
            )
        if not isinstance(body, dict):
            return error_response(
                req, 400, "We could not parse the JSON body of your request.", "invalid_request_error", None
            )
        problem = validate(req)
        if problem:
            return error_response(req, 400, problem[0], "invalid_request_error", None, problem[1])
        try:
            if self.summary is not None and not req.stream and not req.tools:
                req.kind = "summary"
                return completion_response(req, {"text": self.summary(req)})
            answer = self._next_answer(req)
        except ScriptError as exc:
            return error_response(req, 400, f"chat emulator script: {exc}", "invalid_request_error", "emulator_script")
        if "fail" in answer:
            fail: Fail = answer["fail"]
            return error_response(req, fail.status, fail.message, fail.type, fail.code)
        if req.stream:
            return stream_response(self, req, answer)
        return completion_response(req, answer)

    # --------------------------------------------------------------------------------------------- the script
    def _next_answer(self, req: ChatRequest) -> dict[str, Any]:
        if self.position < len(self.script):
            step = self.script[self.position]
            answer = resolve(step, req)  # may raise: the step is then not consumed
            self.position += 1
            return answer
        return resolve(self.default, req)
