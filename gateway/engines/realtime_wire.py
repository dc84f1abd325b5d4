"""The Realtime API's wire format, both dialects: GA (``session.type``, ``response.output_audio.delta``) and the
beta/preview one Azure's api-version endpoints still speak (flat session, ``response.audio.delta``).

Pure functions, no I/O. Audio deltas are recognised without building SDK models: at 50 events a second per call,
a typed SDK object per event does not fit the budget, so only the fields we use are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..audio import b64_decoded_len
from ..events import (
    AudioOut,
    ResponseDone,
    ResponseStarted,
    TranscriptDelta,
    TranscriptFinal,
    UserSpeechStarted,
    UserSpeechStopped,
)
from ..profiles import AgentProfile

AUDIO_DELTA_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta"})
TRANSCRIPT_DELTA_TYPES = frozenset({"response.output_audio_transcript.delta", "response.audio_transcript.delta", "response.output_text.delta", "response.text.delta"})
TRANSCRIPT_DONE_TYPES = frozenset({"response.output_audio_transcript.done", "response.audio_transcript.done", "response.output_text.done", "response.text.done"})


@dataclass(frozen=True, slots=True)
class FunctionCall:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ProviderError:
    code: str
    message: str


def session_config(
    profile: AgentProfile,
    instructions: str,
    tools: list[dict[str, Any]],
    *,
    voice: str,
    transcription_model: str,
    beta: bool,
) -> dict[str, Any]:
    """The session for a profile. Turn-taking stays with the gateway (no auto response, no auto interrupt), so a
    backchannel never derails the agent and barge-in is decided with the caller's real playout in mind."""
    tt = profile.turn_taking
    vad = {
        "type": "server_vad",
        "threshold": tt.vad_threshold,
        "prefix_padding_ms": tt.prefix_padding_ms,
        "silence_duration_ms": tt.silence_duration_ms,
        "create_response": False,
        "interrupt_response": False,
    }
    language = profile.language.split("-")[0]
    if beta:
        return {
            "modalities": ["audio", "text"],
            "instructions": instructions,
            "voice": voice,
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "turn_detection": vad,
            "input_audio_transcription": {"model": transcription_model, "language": language},
            "tools": tools,
            "tool_choice": "auto",
        }
    return {
        "type": "realtime",
        "instructions": instructions,
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "turn_detection": vad,
                "transcription": {"model": transcription_model, "language": language},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice},
        },
        "tools": tools,
        "tool_choice": "auto",
    }


def message_item(role: str, text: str, beta: bool) -> dict[str, Any]:
    """A conversation item carrying text, for restoring context and for words spoken outside the model."""
    if role == "assistant":
        content_type = "text" if beta else "output_text"
    else:
        content_type = "input_text"
    return {"type": "message", "role": role, "content": [{"type": content_type, "text": text}]}


def audio_append(b64: str) -> str:
    """``input_audio_buffer.append`` as a ready string: base64 needs no JSON escaping."""
    return '{"type":"input_audio_buffer.append","audio":"' + b64 + '"}'


def parse_server_event(raw: bytes | str) -> tuple[str, Any]:
    """Return ``(type, typed event or None)``; events the runner does not need come back as ``None``."""
    data = json.loads(raw)
    kind = data.get("type", "")
    if kind in AUDIO_DELTA_TYPES:
        delta = data.get("delta", "")
        return kind, AudioOut(delta, b64_decoded_len(delta), data.get("item_id", ""))
    if kind in TRANSCRIPT_DELTA_TYPES:
        return kind, TranscriptDelta("assistant", data.get("delta", ""), data.get("item_id", ""))
    if kind in TRANSCRIPT_DONE_TYPES:
        return kind, TranscriptFinal("assistant", data.get("transcript") or data.get("text") or "", data.get("item_id", ""))
    if kind == "input_audio_buffer.speech_started":
        return kind, UserSpeechStarted(int(data.get("audio_start_ms") or 0), data.get("item_id", ""))
    if kind == "input_audio_buffer.speech_stopped":
        return kind, UserSpeechStopped(int(data.get("audio_end_ms") or 0), data.get("item_id", ""))
    if kind == "conversation.item.input_audio_transcription.delta":
        return kind, TranscriptDelta("user", data.get("delta", ""), data.get("item_id", ""))
    if kind == "conversation.item.input_audio_transcription.completed":
        return kind, TranscriptFinal("user", (data.get("transcript") or "").strip(), data.get("item_id", ""))
    if kind == "response.created":
        return kind, ResponseStarted((data.get("response") or {}).get("id", ""))
    if kind == "response.done":
        response = data.get("response") or {}
        return kind, ResponseDone(response.get("id", ""), response.get("status", "completed"))
    if kind == "response.function_call_arguments.done":
        return kind, FunctionCall(data.get("call_id", ""), data.get("name", ""), data.get("arguments", "") or "{}")
    if kind == "error":
        error = data.get("error") or {}
        return kind, ProviderError(str(error.get("code") or error.get("type") or "error"), str(error.get("message", "")))
    return kind, None
