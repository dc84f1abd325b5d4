"""G.711 on the Realtime emulator's wire (a Twilio call bridged straight through): μ-law / A-law caller audio drives
the VAD and the speech matching like PCM does, and replies come back as 8 kHz G.711 deltas. Real openai SDK."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from openai import AsyncAzureOpenAI

from gateway.audio import b64decode, b64encode, read_wav, resample, rms
from gateway.emulators.g711 import alaw_encode, mulaw_decode, mulaw_encode
from gateway.emulators.realtime import RealtimeEmulator, Say, Script
from gateway.emulators.realtime.audio_format import ALAW, ULAW, InputDecoder, alaw_decode
from tests.emulators.test_realtime_emulator import FAST, KEY, SPEECH_WAV, events_until, ga_connection, is_done, running

pytestmark = pytest.mark.asyncio

MULAW_FRAME = 160  # 20 ms at 8 kHz
KNOWN_TEXT = "こんにちは。"  # the emulator knows this recording (emulators/data/callers)
G711_SESSION: dict[str, Any] = {
    "type": "realtime",
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300},
        },
        "output": {"format": {"type": "audio/pcmu"}},
    },
}


def caller_mulaw() -> bytes:
    """The greeting fixture as a phone carrier sends it: 300 ms of μ-law silence, speech, 800 ms of silence."""
    chunk = read_wav(SPEECH_WAV)
    speech = mulaw_encode(resample(chunk.pcm, chunk.rate, 8_000))
    silence = mulaw_encode(b"\0\0")
    return silence * 2400 + speech + silence * 6400


def snr_db(reference: bytes, decoded: bytes) -> float:
    ref = np.frombuffer(reference, dtype="<i2").astype(np.float64)
    got = np.frombuffer(decoded, dtype="<i2").astype(np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(1.0, np.sum((ref - got) ** 2))))


async def test_mulaw_session_hears_the_caller_and_answers_in_mulaw() -> None:
    script = Script(steps=[Say("はい、承知しました。", duration_ms=1000)])
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=script)
    sent = caller_mulaw()
    async with ga_connection(emulator) as conn:
        await conn.session.update(session=G711_SESSION)
        updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
        assert updated.session.audio.input.format.type == updated.session.audio.output.format.type == "audio/pcmu"
        assert updated.session.audio.input.format.model_dump(exclude_none=True) == {"type": "audio/pcmu"}
        for i in range(0, len(sent), MULAW_FRAME):
            await conn.input_audio_buffer.append(audio=b64encode(sent[i : i + MULAW_FRAME]))
        events = await events_until(conn, is_done)

    started = next(e for e in events if e.type == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e.type == "input_audio_buffer.speech_stopped")
    assert 0 <= started.audio_start_ms <= 300  # speech begins at 300 ms of 8 kHz audio
    assert 1200 <= stopped.audio_end_ms <= 1900
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert heard.transcript == KNOWN_TEXT  # recognised through μ-law and the 8 → 24 kHz upsampling

    deltas = [b64decode(e.delta) for e in events if e.type == "response.output_audio.delta"]
    assert [len(d) for d in deltas] == [800] * 10  # 100 ms each at 8 kHz, one byte a sample
    record = emulator.sessions[0]
    spoken = record.responses[0].outputs[0].pcm  # what the emulator said, PCM16 24 kHz
    decoded = mulaw_decode(b"".join(deltas))
    assert snr_db(resample(spoken, 24_000, 8_000), decoded) > 30  # μ-law of exactly that audio
    assert rms(decoded) > 1000
    assert events[-1].response.audio.output.format.type == "audio/pcmu"
    assert bytes(record.audio_in_wire) == sent
    assert len(record.received_audio) == len(sent) * 6  # decoded onto the 24 kHz timeline, 3 samples per byte


async def test_beta_g711_formats_on_the_azure_preview_path() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST, script=Script.replies("はい。"))
    sent = alaw_encode(mulaw_decode(caller_mulaw()))
    async with running(emulator) as (url, ws_url):
        client = AsyncAzureOpenAI(
            api_key=KEY, azure_endpoint=url, api_version="2025-04-01-preview", websocket_base_url=f"{ws_url}/openai"
        )
        async with client.beta.realtime.connect(model="my-deployment") as conn:
            await conn.session.update(
                session={"input_audio_format": "g711_alaw", "output_audio_format": "g711_ulaw",
                         "input_audio_transcription": {"model": "whisper-1"},
                         "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}
            )  # fmt: skip
            updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
            assert (updated.session.input_audio_format, updated.session.output_audio_format) == (ALAW, ULAW)
            for i in range(0, len(sent), MULAW_FRAME):
                await conn.input_audio_buffer.append(audio=b64encode(sent[i : i + MULAW_FRAME]))
            events = await events_until(conn, is_done)
    heard = next(e for e in events if e.type == "conversation.item.input_audio_transcription.completed")
    assert heard.transcript == KNOWN_TEXT
    reply = b"".join(b64decode(e.delta) for e in events if e.type == "response.audio.delta")
    spoken = emulator.sessions[0].responses[0].outputs[0].pcm
    assert abs(len(reply) - len(spoken) / 6) < 1 and snr_db(resample(spoken, 24_000, 8_000), mulaw_decode(reply)) > 30
    assert events[-1].response.output_audio_format == ULAW


async def test_g711_rates_other_than_8khz_are_refused() -> None:
    emulator = RealtimeEmulator(api_keys={KEY}, pacing=FAST)
    async with ga_connection(emulator) as conn:
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"format": {
            "type": "audio/pcmu", "rate": 16000}}}})  # fmt: skip
        error = (await events_until(conn, lambda e: e.type == "error"))[-1]
        assert error.error.param == "session.audio.input.format.rate"
        await conn.session.update(session={"type": "realtime", "audio": {"input": {"format": {
            "type": "audio/pcmu", "rate": 8000}}}})  # fmt: skip
        updated = (await events_until(conn, lambda e: e.type == "session.updated"))[-1]
        assert updated.session.audio.input.format.type == "audio/pcmu"
        assert updated.session.audio.output.format.rate == 24000  # the other side keeps PCM


async def test_decoders_match_the_reference_and_stream_without_latency() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # CPython's reference G.711 (gone in 3.13; this project runs 3.11)
    codes = bytes(range(256))
    assert alaw_decode(codes) == audioop.alaw2lin(codes, 2)
    wire = mulaw_encode(resample(read_wav(SPEECH_WAV).pcm, 24_000, 8_000))
    whole = InputDecoder(ULAW).decode(wire)
    streamed = InputDecoder(ULAW)
    pieces = b"".join(streamed.decode(wire[i : i + MULAW_FRAME]) for i in range(0, len(wire), MULAW_FRAME))
    assert pieces == whole and len(whole) == len(wire) * 6  # every chunk decodes at once, 3 samples per byte
