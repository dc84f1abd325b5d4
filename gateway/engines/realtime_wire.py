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
    model: str | None = None,
    provider_turns: bool = False,
    pcm: bool = True,
    audio_format: str = "pcm",
) -> dict[str, Any]:
    """The session for a profile.

    On the phone and the WebSocket path turn-taking stays with the gateway (no automatic response or interrupt), so
    a backchannel never derails the agent and barge-in follows the caller's real playout. A WebRTC browser call has
    nobody in between, so there the provider's VAD answers and interrupts (``provider_turns``); its audio is not
    PCM over the socket but media over RTP (``pcm=False``), and a key minted for it names its ``model``.
    ``audio_format="pcmu"``: G.711 μ-law at 8 kHz both ways, as a telephone carrier streams it (Twilio).
    """
    tt = profile.turn_taking
    vad = {
        "type": "server_vad",
        "threshold": tt.vad_threshold,
        "prefix_padding_ms": tt.prefix_padding_ms,
        "silence_duration_ms": tt.silence_duration_ms,
        "create_response": provider_turns,
        "interrupt_response": provider_turns,
    }
    transcription = {"model": transcription_model, "language": profile.language.split("-")[0]}
    head: dict[str, Any] = {"model": model} if model else {}
    if beta:
        session = {
            **head,
            "modalities": ["audio", "text"],
            "instructions": instructions,
            "voice": voice,
            "turn_detection": vad,
            "input_audio_transcription": transcription,
            "tools": tools,
            "tool_choice": "auto",
        }
        if pcm:
            fmt = "g711_ulaw" if audio_format == "pcmu" else "pcm16"
            session.update(input_audio_format=fmt, output_audio_format=fmt)
        return session
    audio_in: dict[str, Any] = {"turn_detection": vad, "transcription": transcription}
    audio_out: dict[str, Any] = {"voice": voice}
    if pcm:
        fmt: dict[str, Any] = {"type": "audio/pcmu"} if audio_format == "pcmu" else {"type": "audio/pcm", "rate": 24000}
        audio_in = {"format": fmt, **audio_in}
        audio_out = {"format": dict(fmt), **audio_out}
    return {
        "type": "realtime",
        **head,
        "instructions": instructions,
        "output_modalities": ["audio"],
        "audio": {"input": audio_in, "output": audio_out},
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


_GA_DELTA = b'{"type":"response.output_audio.delta"'
_BETA_DELTA = b'{"type":"response.audio.delta"'
_ITEM_KEY = b'"item_id":"'
_DELTA_KEY = b'"delta":"'


def _fast_audio_delta(raw: bytes) -> AudioOut | None:
    """An audio delta without a JSON parse: the service sends ~50 a second per call, compact, ``type`` first.

    Anything unexpected (no item id or delta, an escape such as ``\\/`` inside them) returns ``None`` and takes
    the full parser.
    """
    i = raw.find(_ITEM_KEY) + len(_ITEM_KEY)
    d = raw.find(_DELTA_KEY) + len(_DELTA_KEY)
    if i < len(_ITEM_KEY) or d < len(_DELTA_KEY):
        return None
    i_end, d_end = raw.find(b'"', i), raw.find(b'"', d)
    if i_end < 0 or d_end < 0 or b"\\" in raw:
        return None
    delta = raw[d:d_end].decode("ascii")
    return AudioOut(delta, b64_decoded_len(delta), raw[i:i_end].decode("ascii"))


def parse_server_event(raw: bytes | str) -> tuple[str, Any]:
    """Return ``(type, typed event or None)``; events the runner does not need come back as ``None``."""
    if type(raw) is bytes:
        if raw.startswith(_GA_DELTA):
            kind = "response.output_audio.delta"
        elif raw.startswith(_BETA_DELTA):
            kind = "response.audio.delta"
        else:
            kind = ""
        audio = _fast_audio_delta(raw) if kind else None
        if audio is not None:
            return kind, audio
    data = json.loads(raw)
    kind = data.get("type", "")
    if kind in AUDIO_DELTA_TYPES:
        delta = data.get("delta", "")
        return kind, AudioOut(delta, b64_decoded_len(delta), data.get("item_id", ""))
    if kind in TRANSCRIPT_DELTA_TYPES:
        return kind, TranscriptDelta("assistant", data.get("delta", ""), data.get("item_id", ""))
    if kind in TRANSCRIPT_DONE_TYPES:
        return kind, TranscriptFinal("assistant", data.get("transcript") or data.get("text") or "", data.get("item_id", ""))
    if kind == "response.output_item.done":
        return kind, _cut_off_message(data.get("item") or {})
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


def _cut_off_message(item: dict[str, Any]) -> TranscriptFinal | None:
    """An agent message the caller cut off ends ``incomplete`` without a transcript ``done`` event: its transcript so
    far is only in the item, and it belongs in the record all the same."""
    if item.get("type") != "message" or item.get("role") != "assistant" or item.get("status") != "incomplete":
        return None
    parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
    text = "".join(str(p.get("transcript") or p.get("text") or "") for p in parts)
    return TranscriptFinal("assistant", text, str(item.get("id", ""))) if text.strip() else None
