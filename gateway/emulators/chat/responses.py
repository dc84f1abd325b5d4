"""Chat emulator answers: errors, whole completions, and SSE streams of completion chunks."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from quart import Response

from gateway.emulators.chat.records import ChatRequest, content_text

if TYPE_CHECKING:
    from gateway.emulators.chat.emulator import ChatEmulator

DEFAULT_MODEL = "gpt-4o-mini"
_SENTENCE = re.compile(r".+?(?:[。．！？!?]+|[.](?=\s|$)|\n+|$)", re.S)


def error_response(
    req: ChatRequest, status: int, message: str, type_: str, code: str | None, param: str | None = None
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


def completion_response(req: ChatRequest, answer: dict[str, Any]) -> Response:
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


def stream_response(emu: ChatEmulator, req: ChatRequest, answer: dict[str, Any]) -> Response:
    return Response(
        stream_chunks(emu, req, answer),
        200,
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "x-request-id": _req_id()},
    )


async def stream_chunks(emu: ChatEmulator, req: ChatRequest, answer: dict[str, Any]) -> AsyncIterator[bytes]:
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
    if emu.first_delta_delay:
        await asyncio.sleep(emu.first_delta_delay)
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
            step = max(1, emu.argument_chars)
            for pos in range(0, len(args), step):
                await asyncio.sleep(emu.delta_delay)
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[pos : pos + step]}}]})
        finish = "tool_calls"
    else:
        req.kind = req.kind or "text"
        text = req.planned_text = answer["text"]
        size = max(1, answer.get("delta_chars") or emu.delta_chars)
        pause = answer.get("sentence_delay")
        pause = emu.sentence_delay if pause is None else pause
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for n, sentence in enumerate(split_sentences(text)):
            if n and pause:
                await asyncio.sleep(pause)
            for pos in range(0, len(sentence), size):
                if pos and emu.delta_delay:
                    await asyncio.sleep(emu.delta_delay)
                piece = sentence[pos : pos + size]
                req.reply_text += piece
                if n == 0 and pos + size >= len(sentence):
                    req.first_sentence_at = time.monotonic()
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


def call_id() -> str:
    return "call_" + _rand(24)


def _completion_id() -> str:
    return "chatcmpl-" + _rand(29)


def _req_id() -> str:
    return "req_" + secrets.token_hex(16)
