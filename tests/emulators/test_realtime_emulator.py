"""The Realtime emulator driven by the real openai SDK over loopback: GA, Azure GA and Azure preview (beta names)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from openai import AsyncAzureOpenAI, AsyncOpenAI
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from gateway.audio import b64decode, b64encode, frame_bytes, read_wav, rms
from gateway.emulators.realtime import CallTool, Pacing, RealtimeEmulator, Say, Script

pytestmark = pytest.mark.asyncio

SPEECH_WAV = Path(__file__).resolve().parent.parent / "data" / "ja_greeting_reply_24k.wav"
KEY = "test-key"
FRAME = frame_bytes(24_000)  # 20 ms
FAST = Pacing(realtime_factor=50, chunk_ms=100)
GA_SESSION: dict[str, Any] = {
    "type": "realtime",
    "instructions": "You are a rent-a-car agent.",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300},
        }
    },
}


SERVERS = pytest.mark.parametrize("native", [False, True], ids=["quart-hypercorn", "native-websockets"])


@contextlib.asynccontextmanager
async def running(emulator: RealtimeEmulator, native: bool = False) -> AsyncIterator[tuple[str, str]]:
    async with emulator.serve(native=native) as url:
        yield url, url.replace("http://", "ws://")


def openai_client(url: str, ws_url: str, key: str = KEY) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=f"{url}/v1", websocket_base_url=f"{ws_url}/v1")


@contextlib.asynccontextmanager
async def ga_connection(emulator: RealtimeEmulator, native: bool = False) -> AsyncIterator[Any]:
    """Serve the emulator and open one GA connection to it through the SDK."""
    async with running(emulator, native) as (url, ws_url):
        async with openai_client(url, ws_url).realtime.connect(model="gpt-realtime") as conn:
            yield conn


async def events_until(conn: Any, stop: Callable[[Any], bool], timeout: float = 5.0) -> list[Any]:
    """Receive events up to and including the first one ``stop`` accepts."""
    seen: list[Any] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.recv()
            seen.append(event)
            if stop(event):
                return seen


def is_done(event: Any) -> bool:
    return event.type == "response.done"


def speech_with_silence() -> bytes:
    """300 ms of digital silence, the greeting, then 800 ms of silence (enough to end the turn)."""
    pcm = read_wav(SPEECH_WAV).pcm
    return b"\0" * FRAME * 15 + pcm + b"\0" * FRAME * 40


async def send_frames(conn: Any, pcm: bytes) -> None:
    for i in range(0, len(pcm), FRAME):
        await conn.input_audio_buffer.append(audio=b64encode(pcm[i : i + FRAME]))


def audio_of(events: list[Any], kind: str = "response.output_audio.delta") -> bytes:
    return b"".join(b64decode(e.delta) for e in events if e.type == kind)


async def test_session_update_round_trip_and_prompt_chaining() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    async with ga_connection(emulator) as conn:
        created = await conn.recv()
        assert created.type == "session.created"
        assert created.session.audio.input.turn_detection.type == "server_vad"

        tools = [{"type": "function", "name": "reserve_car", "description": "Reserve", "parameters": {}}]
        await conn.session.update(session={**GA_SESSION, "tools": tools, "audio": {
            **GA_SESSION["audio"], "output": {"voice": "cedar"}}})  # fmt: skip
        updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
        assert updated.session.instructions == "You are a rent-a-car agent."
        assert updated.session.tools[0].name == "reserve_car"
        assert updated.session.audio.output.voice == "cedar"
        assert updated.session.audio.input.turn_detection.silence_duration_ms == 500
        assert updated.session.audio.input.transcription.model == "whisper-1"

        await conn.session.update(session={"type": "realtime", "instructions": "Now collect the phone number."})
        updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
        assert updated.session.instructions == "Now collect the phone number."
        assert updated.session.tools[0].name == "reserve_car"  # merged, not replaced

        await conn.session.update(session={"instructions": "no type"})  # GA requires session.type
        error = (await events_until(conn, lambda e: e.type == "error"))[-1]
        assert error.error.code == "missing_required_parameter"

    record = emulator.sessions[0]
    assert record.path == "/v1/realtime" and record.dialect == "ga" and record.auth == "bearer"
    assert record.instructions_history == ["You are a rent-a-car agent.", "Now collect the phone number."]
    assert len(record.session_updates) == 2


@SERVERS
async def test_real_speech_turn_gets_vad_events_and_a_spoken_reply(native: bool) -> None:
    script = Script(
        steps=[Say("はい、こんにちは。ご用件をどうぞ。", duration_ms=1500)], user_transcripts=["こんにちは。"]
    )
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=script)
    async with ga_connection(emulator, native) as conn:
        await conn.session.update(session=GA_SESSION)
        sent = speech_with_silence()
        await send_frames(conn, sent)
        events = await events_until(conn, is_done)

    types = [e.type for e in events]
    for earlier, later in [
        ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"),
        ("input_audio_buffer.speech_stopped", "input_audio_buffer.committed"),
        ("input_audio_buffer.committed", "conversation.item.input_audio_transcription.completed"),
        ("conversation.item.input_audio_transcription.completed", "response.created"),
        ("response.created", "response.output_item.added"),
        ("response.output_item.added", "response.content_part.added"),
        ("response.content_part.added", "response.output_audio.delta"),
        ("response.output_audio.delta", "response.output_audio.done"),
        ("response.output_audio.done", "response.output_audio_transcript.done"),
        ("response.output_audio_transcript.done", "response.content_part.done"),
        ("response.content_part.done", "response.output_item.done"),
    ]:
        assert types.index(earlier) < types.index(later), (earlier, later)
    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e.type == "input_audio_buffer.speech_stopped")
    assert 0 <= started.audio_start_ms <= 300  # speech begins at 300 ms; start includes the prefix padding
    assert 1200 <= stopped.audio_end_ms <= 1900  # speech ends near 1224 ms; end includes 500 ms of silence
    assert started.item_id == stopped.item_id
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert heard.transcript == "こんにちは。"

    reply = audio_of(events)
    assert len(reply) == 1500 * 48  # 1.5 s of PCM16 at 24 kHz
    assert rms(reply) > 1000  # real speech, not silence
    transcript = next(e for e in events if e.type == "response.output_audio_transcript.done").transcript
    assert transcript == "はい、こんにちは。ご用件をどうぞ。"
    assert "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta") == transcript
    done = events[-1]
    assert done.response.status == "completed" and done.response.usage.output_tokens > 0

    record = emulator.sessions[0]
    assert record.received_audio == sent  # sample for sample
    assert [t.transcript for t in record.user_turns] == ["こんにちは。"]
    assert record.responses[0].trigger == "server_vad"
    assert record.responses[0].audio_sent == reply


async def test_silence_and_quiet_noise_do_not_start_a_turn() -> None:
    import numpy as np

    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    noise = (np.random.default_rng(1).normal(0, 60, 24_000 * 2)).astype("<i2").tobytes()  # about -55 dBFS
    async with ga_connection(emulator) as conn:
        await conn.session.update(session=GA_SESSION)
        await send_frames(conn, b"\0" * FRAME * 50 + noise)
        record = await emulator.wait_for_session()
        await record.wait_for(lambda r: r.audio_in.nbytes == FRAME * 50 + len(noise))
    assert record.user_turns == [] and record.responses == []
    assert "input_audio_buffer.speech_started" not in record.sent_counts


async def test_function_call_round_trip_quotes_the_tool_output() -> None:
    script = Script(
        steps=[
            CallTool(
                "reserve_car",
                {"city": "東京", "date": "2025-06-07"},
                preamble=Say("確認しますので少々お待ちください。", duration_ms=400),
                then=Say("ご予約番号は{output[reservation_number]}です。", duration_ms=600),
            )
        ]
    )
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=script)
    async with ga_connection(emulator) as conn:
        await conn.response.create()
        first = await events_until(conn, is_done)
        call = next(e for e in first if e.type == "response.function_call_arguments.done")
        assert call.name == "reserve_car" and '"city": "東京"' in call.arguments
        assert [o.type for o in first[-1].response.output] == ["message", "function_call"]
        assert rms(audio_of(first)) > 1000  # the preamble is spoken

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": '{"reservation_number": "R-4821"}'}
        )
        await conn.response.create()
        second = await events_until(conn, is_done)
        said = next(e for e in second if e.type == "response.output_audio_transcript.done").transcript
        assert said == "ご予約番号はR-4821です。"

        await conn.conversation.item.create(
            item={"type": "function_call_output", "call_id": "call_nope", "output": "x"}
        )
        error = (await events_until(conn, lambda e: e.type == "error"))[-1]
        assert "call_nope" in error.error.message

    record = emulator.sessions[0]
    assert [(o.call_id, o.output) for o in record.function_call_outputs] == [
        (call.call_id, '{"reservation_number": "R-4821"}')
    ]


@SERVERS
async def test_cancel_stops_audio_at_once_and_truncate_is_recorded(native: bool) -> None:
    script = Script(steps=[Say("長いお知らせです。", duration_ms=10_000)])
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=Pacing(realtime_factor=4, chunk_ms=100), script=script)
    async with ga_connection(emulator, native) as conn:
        await conn.response.create(response={"instructions": "Greet the caller."})
        before = await events_until(conn, lambda e: e.type == "response.output_audio.delta")
        item_id = before[-1].item_id
        await asyncio.sleep(0.1)
        await conn.response.cancel()
        events = before + await events_until(conn, is_done)
        assert events[-1].response.status == "cancelled"
        assert events[-1].response.status_details.reason == "client_cancelled"
        with pytest.raises(TimeoutError):  # nothing after response.done
            await events_until(conn, lambda e: True, timeout=0.3)
        received_ms = len(audio_of(events)) / 48
        assert 100 <= received_ms < 2000

        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=100)
        truncated = (await events_until(conn, lambda e: e.type != "response.output_audio.delta"))[-1]
        assert truncated.type == "conversation.item.truncated" and truncated.audio_end_ms == 100

        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=60_000)
        assert (await conn.recv()).type == "error"  # beyond the audio sent
        await conn.conversation.item.truncate(item_id="item_unknown", content_index=0, audio_end_ms=10)
        assert (await conn.recv()).type == "error"
        await conn.response.cancel()
        assert (await conn.recv()).error.code == "response_cancel_not_active"

    record = emulator.sessions[0]
    assert [(t.item_id, t.audio_end_ms) for t in record.truncates] == [(item_id, 100)]
    assert record.cancels[0].reason == "client_cancelled"
    assert abs(record.cancels[0].audio_sent_ms - received_ms) < 1
    assert record.responses[0].instructions == "Greet the caller."


async def test_caller_barge_in_cancels_the_response() -> None:
    script = Script(steps=[Say("ただいまご案内中です。", duration_ms=10_000)])
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=Pacing(realtime_factor=4, chunk_ms=100), script=script)
    async with ga_connection(emulator) as conn:
        await conn.session.update(session=GA_SESSION)
        await conn.response.create()
        await events_until(conn, lambda e: e.type == "response.output_audio.delta")
        await send_frames(conn, read_wav(SPEECH_WAV).pcm[: FRAME * 20])
        events = await events_until(conn, is_done)
    types = [e.type for e in events]
    assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
    assert events[-1].response.status == "cancelled"
    assert events[-1].response.status_details.reason == "turn_detected"
    assert emulator.sessions[0].cancels[0].reason == "turn_detected"


async def test_manual_turns_with_commit_and_clear() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=Script(user_transcripts=["ok"]))
    async with ga_connection(emulator) as conn:
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await events_until(conn, lambda e: e.type == "session.updated")
        await conn.input_audio_buffer.commit()
        assert (await conn.recv()).error.code == "input_audio_buffer_commit_empty"
        await send_frames(conn, read_wav(SPEECH_WAV).pcm)
        await conn.input_audio_buffer.commit()
        committed = await events_until(conn, lambda e: e.type == "conversation.item.done")
        assert "input_audio_buffer.speech_started" not in [e.type for e in committed]  # no VAD in manual mode
        await send_frames(conn, b"\1" * FRAME * 10)
        await conn.input_audio_buffer.clear()
        await events_until(conn, lambda e: e.type == "input_audio_buffer.cleared")
        await conn.response.create()
        events = await events_until(conn, is_done)
        assert rms(audio_of(events)) > 1000
    record = emulator.sessions[0]
    assert [t.via for t in record.user_turns] == ["commit"]
    assert record.user_turns[0].end_ms == pytest.approx(len(read_wav(SPEECH_WAV).pcm) / 48)


async def test_restored_context_is_recorded_in_the_conversation() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    async with ga_connection(emulator) as conn:
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "車を借りたい"}]}
        )
        await conn.conversation.item.create(
            item={"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "承知しました"}]}
        )
        events = await events_until(conn, lambda e: e.type == "conversation.item.done" and e.item.role == "assistant")
        assert [e.type for e in events].count("conversation.item.added") == 2
    record = emulator.sessions[0]
    assert [i["role"] for i in record.created_items] == ["user", "assistant"]
    assert [i["content"][0]["text"] for i in record.items] == ["車を借りたい", "承知しました"]


@SERVERS
async def test_wrong_or_missing_key_is_refused_with_401(native: bool) -> None:
    emulator = RealtimeEmulator(api_keys={KEY})
    async with running(emulator, native) as (url, ws_url):
        with pytest.raises(InvalidStatus) as refused:
            async with openai_client(url, ws_url, key="wrong").realtime.connect(model="gpt-realtime"):
                pass
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            async with websockets.connect(f"{ws_url}/v1/realtime?model=gpt-realtime"):
                pass
        async with websockets.connect(f"{ws_url}/openai/v1/realtime?model=dep&api-key={KEY}") as ws:
            assert '"session.created"' in await ws.recv()
        for bad in ("/openai/realtime?api-version=2025-04-01-preview", "/openai/v1/realtime?model=d&api-version=x"):
            with pytest.raises(InvalidStatus) as refused:  # no deployment / api-version on the GA path
                async with websockets.connect(f"{ws_url}{bad}", additional_headers={"api-key": KEY}):
                    pass
            assert refused.value.response.status_code in (400, 401)
    assert emulator.stats.refused_auth == 3 and emulator.stats.refused_bad_request == 1
    assert emulator.stats.accepted == 1
    assert emulator.sessions[0].auth == "api-key-query"


@SERVERS
async def test_fault_drop_mid_response_with_close_code_and_with_tcp_abort(native: bool) -> None:
    script = Script(steps=[Say(duration_ms=5000)], loop=True)
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=script)
    async with running(emulator, native) as (url, ws_url):
        for code in (1011, None):
            emulator.drop_mid_response(after_audio_ms=300, code=code)
            async with openai_client(url, ws_url).realtime.connect(model="gpt-realtime") as conn:
                await conn.response.create()
                with pytest.raises(ConnectionClosedError) as closed:
                    await events_until(conn, is_done)
                if code is None:
                    assert closed.value.rcvd is None  # no close frame: a network failure (1006)
                else:
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    first, second = emulator.sessions
    assert first.dropped == "close 1011" and second.dropped == "abort"
    assert first.responses[0].outputs[0].sent_ms == pytest.approx(300)
    assert emulator.stats.dropped == 2


@SERVERS
async def test_fault_refuse_connections_then_recover(native: bool) -> None:
    emulator = RealtimeEmulator(api_keys={KEY})
    emulator.refuse_connections(503, count=2)
    async with running(emulator, native) as (url, ws_url):
        client = openai_client(url, ws_url)
        for _ in range(2):
            with pytest.raises(InvalidStatus) as refused:
                async with client.realtime.connect(model="gpt-realtime"):
                    pass
            assert refused.value.response.status_code == 503
        async with client.realtime.connect(model="gpt-realtime") as conn:
            assert (await conn.recv()).type == "session.created"
            assert emulator.drop_session(code=1001, error="session_expired")
            error = await conn.recv()  # the error event goes out before the close
            assert error.type == "error" and error.error.code == "session_expired"
            with pytest.raises(ConnectionClosed) as closed:  # 1001 "going away" counts as ConnectionClosedOK
                await events_until(conn, lambda e: False)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert emulator.stats.attempts == 3 and emulator.stats.refused_fault == 2 and emulator.stats.accepted == 1


async def test_azure_preview_speaks_beta_event_names() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=Script.replies("はい、承知しました。"))
    async with running(emulator) as (url, ws_url):
        client = AsyncAzureOpenAI(
            api_key=KEY, azure_endpoint=url, api_version="2025-04-01-preview", websocket_base_url=f"{ws_url}/openai"
        )
        async with client.beta.realtime.connect(model="my-deployment") as conn:
            created = await conn.recv()
            assert created.type == "session.created" and created.session.voice == "alloy"
            await conn.session.update(
                session={"instructions": "preview", "voice": "alloy", "input_audio_transcription": {"model": "whisper-1"},
                         "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
            )  # fmt: skip
            updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
            assert updated.session.instructions == "preview"
            await send_frames(conn, speech_with_silence())
            events = await events_until(conn, is_done)
    types = {e.type for e in events}
    assert {"response.audio.delta", "response.audio_transcript.delta", "response.audio_transcript.done"} <= types
    assert "conversation.item.created" in types
    assert not any(t.startswith("response.output_audio") for t in types)
    assert rms(audio_of(events, "response.audio.delta")) > 1000
    record = emulator.sessions[0]
    assert record.path == "/openai/realtime" and record.dialect == "beta" and record.auth == "api-key-header"
    assert record.query == {"api-version": "2025-04-01-preview", "deployment": "my-deployment"}


async def test_openai_beta_header_selects_the_beta_dialect() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    async with running(emulator) as (url, ws_url):
        async with openai_client(url, ws_url).beta.realtime.connect(model="gpt-4o-realtime-preview") as conn:
            created = await conn.recv()
            assert created.session.voice == "alloy" and created.session.turn_detection.type == "server_vad"
            await conn.session.update(session={"type": "realtime"})  # a GA field on the beta protocol
            assert (await conn.recv()).error.code == "unknown_parameter"
            await conn.response.create()
            events = await events_until(conn, is_done)
    assert any(e.type == "response.audio.delta" for e in events)
    assert emulator.sessions[0].path == "/v1/realtime" and emulator.sessions[0].dialect == "beta"


async def test_azure_ga_path_with_the_openai_client() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    async with running(emulator) as (url, ws_url):
        client = AsyncOpenAI(api_key=KEY, base_url=f"{url}/openai/v1", websocket_base_url=f"{ws_url}/openai/v1")
        async with client.realtime.connect(model="my-deployment") as conn:
            await conn.response.create()
            events = await events_until(conn, is_done)
    assert any(e.type == "response.output_audio.delta" for e in events)
    assert emulator.sessions[0].path == "/openai/v1/realtime" and emulator.sessions[0].model == "my-deployment"


@SERVERS
async def test_bench_mode_streams_20ms_deltas_steadily_without_vad(native: bool) -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, bench=True)
    async with ga_connection(emulator, native) as conn:
        await conn.recv()
        await send_frames(conn, read_wav(SPEECH_WAV).pcm[: FRAME * 5])
        await events_until(conn, lambda e: e.type == "response.output_audio.delta")
        loop = asyncio.get_running_loop()
        start, deltas = loop.time(), []
        while loop.time() - start < 0.5:
            event = await conn.recv()
            if event.type == "response.output_audio.delta":
                deltas.append(len(b64decode(event.delta)))
    assert set(deltas) == {FRAME}
    assert 18 <= len(deltas) <= 32  # ~25 per 0.5 s at real time
    record = emulator.sessions[0]
    assert record.received_audio == b"" and record.audio_in.nbytes == FRAME * 5  # counted, not kept
    assert record.responses[0].trigger == "bench"


@pytest.mark.parametrize("accept", [True, False])
async def test_the_native_server_negotiates_compression_only_when_told(accept: bool) -> None:
    """Like common WebSocket servers, the emulator deflates for a client that offers it; the bench preset does not."""
    emulator = RealtimeEmulator(api_keys={KEY}, accept_compression=accept)
    async with emulator.serve(native=True) as url:
        ws = url.replace("http://", "ws://")
        async with websockets.connect(f"{ws}/v1/realtime?model=m", additional_headers={"Authorization": f"Bearer {KEY}"}) as conn:
            await conn.recv()
            negotiated = [type(e).__name__ for e in conn.protocol.extensions]
        record = await emulator.wait_for_session(1)
    assert record.extensions == (["permessage-deflate"] if accept else [])
    assert negotiated == (["PerMessageDeflate"] if accept else [])
