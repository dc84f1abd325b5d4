"""The Chat Completions emulator driven by the real ``openai`` SDK (OpenAI and Azure OpenAI clients)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

from gateway.emulators.chat import DEFAULT_KEY, ChatEmulator, ChatRequest, Fail, Reply, ToolCall, split_sentences
from gateway.emulators.serving import serve_app

pytestmark = pytest.mark.asyncio

API_VERSION = "2024-10-21"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "reserve_car",
            "description": "Reserve a rental car.",
            "parameters": {
                "type": "object",
                "properties": {"date": {"type": "string"}, "city": {"type": "string"}},
                "required": ["date", "city"],
            },
        },
    },
    {"type": "function", "function": {"name": "lookup_customer", "parameters": {"type": "object"}}},
]
GREETING = "お電話ありがとうございます。レンタカーのご予約ですね。ご希望の日付をお知らせください。"


def _openai(url: str, key: str = DEFAULT_KEY) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def _azure(url: str) -> AsyncAzureOpenAI:
    return AsyncAzureOpenAI(azure_endpoint=url, api_version=API_VERSION, api_key=DEFAULT_KEY, max_retries=0)


async def _collect(stream: Any) -> dict[str, Any]:
    """Accumulate a chat stream: text deltas with arrival times, tool calls, argument pieces, finish reason."""
    out: dict[str, Any] = {"deltas": [], "times": [], "calls": {}, "pieces": [], "finish": None, "empty": 0}
    t0 = time.monotonic()
    async for chunk in stream:
        if not chunk.choices:
            out["empty"] += 1
            continue
        choice = chunk.choices[0]
        if choice.delta.content:
            out["deltas"].append(choice.delta.content)
            out["times"].append(time.monotonic() - t0)
        for call in choice.delta.tool_calls or []:
            entry = out["calls"].setdefault(call.index, {"id": None, "name": "", "arguments": ""})
            entry["id"] = call.id or entry["id"]
            if call.function and call.function.name:
                entry["name"] = call.function.name
            if call.function and call.function.arguments:
                entry["arguments"] += call.function.arguments
                out["pieces"].append(call.function.arguments)
        out["finish"] = choice.finish_reason or out["finish"]
    return out


async def test_streamed_text_reply_arrives_sentence_by_sentence() -> None:
    emu = ChatEmulator(script=[GREETING], sentence_delay=0.15)
    messages = [{"role": "system", "content": "あなたは予約係です。"}, {"role": "user", "content": "もしもし"}]
    async with serve_app(emu.app) as url:
        stream = await _openai(url).chat.completions.create(
            model="gpt-4o-mini", messages=messages, tools=TOOLS, stream=True
        )
        out = await _collect(stream)

    assert "".join(out["deltas"]) == GREETING and out["finish"] == "stop"
    assert len(out["deltas"]) > 6 and out["empty"] == 0
    # The first sentence is complete well before the reply ends, so TTS can start on it.
    first = split_sentences(GREETING)[0]
    done_first = next(i for i in range(len(out["deltas"])) if "".join(out["deltas"][: i + 1]) == first)
    assert out["times"][-1] - out["times"][done_first] > 0.25
    (req,) = emu.requests
    assert req.route == "openai" and req.model == "gpt-4o-mini" and req.stream
    assert req.messages == messages and req.tools == TOOLS and req.tool_names == ["reserve_car", "lookup_customer"]
    assert req.kind == "text" and req.reply_text == GREETING and req.completed


async def test_tool_call_then_follow_up_uses_the_tool_result_azure() -> None:
    emu = ChatEmulator(
        script=[
            ToolCall("reserve_car", {"date": "2026-12-05", "city": "東京"}),
            Reply("ご予約を承りました。予約番号は{reservation_id}です。", format_tool_result=True),
            lambda req: f"{req.last_user_text}、承知しました。",
        ]
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": "来週の土曜日に東京で借りたいです"}]
    async with serve_app(emu.app) as url:
        client = _azure(url)
        stream = await client.chat.completions.create(model="rental", messages=messages, tools=TOOLS, stream=True)
        out = await _collect(stream)
        assert out["finish"] == "tool_calls" and out["empty"] == 1  # Azure's prompt_filter_results chunk
        call = out["calls"][0]
        assert call["name"] == "reserve_car" and call["id"].startswith("call_")
        assert len(out["pieces"]) > 2  # the arguments arrive in pieces
        assert json.loads(call["arguments"]) == {"date": "2026-12-05", "city": "東京"}

        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps({"reservation_id": "R-42"})})
        out = await _collect(
            await client.chat.completions.create(model="rental", messages=messages, tools=TOOLS, stream=True)
        )
        assert "".join(out["deltas"]) == "ご予約を承りました。予約番号はR-42です。"

        messages.append({"role": "user", "content": "ありがとう"})
        done = await client.chat.completions.create(model="rental", messages=messages, tools=TOOLS)
        assert done.choices[0].message.content == "ありがとう、承知しました。"

    first, second, third = emu.requests
    assert first.route == "azure" and first.deployment == "rental" and first.api_version == API_VERSION
    assert first.kind == "tool_calls" and first.tool_calls[0]["name"] == "reserve_car"
    assert second.roles == ["user", "assistant", "tool"]
    assert second.tool_results[0]["name"] == "reserve_car" and second.last_tool_result["json"] == {
        "reservation_id": "R-42"
    }
    assert third.last_tool_result is None and emu.position == 3


async def test_parallel_tool_calls_and_non_streaming_tool_call() -> None:
    emu = ChatEmulator(
        script=[
            [ToolCall("lookup_customer", {"phone": "090"}), ToolCall("reserve_car", '{"date":"x","city":"y"}')],
            ToolCall("lookup_customer", lambda req: {"said": req.last_user_text}),
        ]
    )
    async with serve_app(emu.app) as url:
        client = _openai(url)
        out = await _collect(
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "a"}], tools=TOOLS, stream=True
            )
        )
        assert [c["name"] for c in out["calls"].values()] == ["lookup_customer", "reserve_car"]
        done = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}], tools=TOOLS)
    (call,) = done.choices[0].message.tool_calls
    assert done.choices[0].finish_reason == "tool_calls" and json.loads(call.function.arguments) == {"said": "b"}


async def test_summary_request_default_echo_and_azure_v1_route() -> None:
    emu = ChatEmulator()
    history = [
        {"role": "user", "content": "レンタカーを借りたい"},
        {"role": "assistant", "content": "承知しました。"},
        {"role": "user", "content": "コンパクトカーで"},
    ]
    async with serve_app(emu.app) as url:
        summary = await _openai(url).chat.completions.create(model="gpt-4o-mini", messages=history)
        v1 = AsyncOpenAI(base_url=url + "/openai/v1", api_key=DEFAULT_KEY, max_retries=0)
        stream = await v1.chat.completions.create(
            model="gpt-4o", messages=history, tools=TOOLS, stream=True, stream_options={"include_usage": True}
        )
        echoed = await _collect(stream)
    text = summary.choices[0].message.content
    assert "レンタカーを借りたい" in text and summary.usage.total_tokens > 0
    assert "コンパクトカーで" in "".join(echoed["deltas"]) and echoed["finish"] == "stop"
    assert [r.kind for r in emu.requests] == ["summary", "text"] and emu.requests[1].route == "azure-v1"
    assert emu.position == 0  # neither consumed the (empty) script


async def test_errors_are_openai_shaped() -> None:
    emu = ChatEmulator(script=[Fail(429, "Rate limit reached", "rate_limit_error", "rate_limit_exceeded")])
    user = [{"role": "user", "content": "x"}]
    async with serve_app(emu.app) as url:
        with pytest.raises(openai.AuthenticationError) as auth:
            await _openai(url, "wrong-key").chat.completions.create(model="m", messages=user)
        assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"

        dangling = [
            *user,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "reserve_car", "arguments": "{}"}}
                ],
            },
        ]
        with pytest.raises(openai.BadRequestError) as bad:
            await _openai(url).chat.completions.create(model="m", messages=dangling, tools=TOOLS)
        assert "call_1" in bad.value.message and bad.value.body["type"] == "invalid_request_error"

        orphan = [*user, {"role": "tool", "tool_call_id": "call_9", "content": "{}"}]
        with pytest.raises(openai.BadRequestError):
            await _openai(url).chat.completions.create(model="m", messages=orphan)

        with pytest.raises(openai.RateLimitError):
            await _openai(url).chat.completions.create(model="m", messages=user, stream=True)

        async with httpx.AsyncClient(base_url=url) as http:
            no_version = await http.post(
                "/openai/deployments/d/chat/completions", json={"messages": user}, headers={"api-key": DEFAULT_KEY}
            )
            garbage = await http.post(
                "/v1/chat/completions", content=b"{nope", headers={"Authorization": f"Bearer {DEFAULT_KEY}"}
            )
            no_messages = await http.post(
                "/v1/chat/completions", json={"model": "m"}, headers={"Authorization": f"Bearer {DEFAULT_KEY}"}
            )
        for resp in (no_version, garbage, no_messages):
            assert resp.status_code == 400 and set(resp.json()["error"]) >= {"message", "type", "code"}
    assert [r.status for r in emu.requests] == [401, 400, 400, 429, 400, 400, 400]


async def test_script_tool_mismatch_is_reported_and_not_consumed() -> None:
    emu = ChatEmulator(script=[ToolCall("reserve_car", {})])
    user = [{"role": "user", "content": "x"}]
    async with serve_app(emu.app) as url:
        with pytest.raises(openai.BadRequestError) as err:
            await _openai(url).chat.completions.create(model="m", messages=user, stream=True)
        assert err.value.code == "emulator_script"
        out = await _collect(
            await _openai(url).chat.completions.create(model="m", messages=user, tools=TOOLS, stream=True)
        )
    assert out["calls"][0]["name"] == "reserve_car"
    assert isinstance(emu.requests[0], ChatRequest) and emu.requests[0].status == 400 and emu.position == 1
