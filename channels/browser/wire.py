"""The browser WebSocket protocol (``/ws/browser``): pure parsing and serialising, no I/O.

Client → gateway
  * text ``{"type":"hello", "agent"?, "session_id"?, "token"?, "lang"?}`` — first message; with ``session_id`` and
    ``token`` it resumes that conversation, else a new one starts
  * binary — caller audio: PCM16 little-endian mono 24 kHz, an even number of bytes, at most ``MAX_AUDIO_BYTES``
  * text ``{"type":"barge_in"}`` — the page heard the caller over the agent and already stopped playback
  * text ``{"type":"played", "ms", "samples"?}`` — how much the page had played since its previous flush when it
    flushed on ``clear``; ``samples`` (24 kHz) places a paused reply's resume at exactly the next sample
  * text ``{"type":"drained"}`` — the page's player has played everything it received (the agent's turn really
    ended at the ear: a turn-based caller is heard from now on)
  * text ``{"type":"stop"}`` — the caller ends the conversation
  * text ``{"type":"ping"}`` — answered with ``{"type":"pong"}``

Gateway → client
  * ``{"type":"ready", "session_id", "token", "agent", "sample_rate":24000, "resumed", "language", "barge_in_ms"}``
    (``barge_in_ms`` 0: a turn-based agent, the page never stops it)
  * binary — agent audio: PCM16 little-endian mono 24 kHz, in order, to be played gap-free
  * ``{"type":"transcript", "role", "text", "final", "item_id"}`` — ``text`` is a delta while ``final`` is false
    (assistant text as the LLM writes it) and the whole text of the item when ``final`` is true
  * ``{"type":"tool_call", "call_id", "name", "arguments"}`` and ``{"type":"tool_result", "call_id", "name", "ok", "output"}``
  * ``{"type":"clear"}`` — barge-in: drop all queued agent audio now; also the answer to every ``barge_in``, so a page
    that stopped playback itself drops the interrupted reply's audio still on the wire until this arrives
  * ``{"type":"error", "code", "message"}`` and ``{"type":"ended", "reason"}``
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from gateway.events import HubEvent, SessionError, ToolCallFinished, ToolCallStarted, TranscriptDelta, TranscriptFinal

SAMPLE_RATE = 24_000
MAX_AUDIO_BYTES = 48_000  # one second of audio; the page sends 20-40 ms frames
MAX_TEXT_CHARS = 8_192
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")  # gateway.security.SessionTokens: <expiry>.<agent>.<mac>
_AGENT = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")

# WebSocket close codes
NORMAL = 1000
POLICY = 1008  # a protocol violation (bad hello, too many malformed messages, bad token)
TOO_BIG = 1009
SERVER_ERROR = 1011  # the WebSocket channel is not configured, or the AI side failed
TRY_LATER = 1013  # draining
REPLACED = 4000  # the same conversation was resumed on another socket


class WireError(ValueError):
    """A message that is not part of the protocol; ``code`` goes back to the page."""

    def __init__(self, message: str, code: str = "bad_message") -> None:
        super().__init__(message)
        self.code = code


class MessageTooBig(WireError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message of {size} bytes exceeds {limit}", "too_big")


@dataclass(frozen=True, slots=True)
class Hello:
    agent: str | None
    session_id: str | None
    token: str | None
    lang: str | None

    @property
    def resume(self) -> bool:
        return self.session_id is not None


@dataclass(frozen=True, slots=True)
class Audio:
    pcm: bytes


@dataclass(frozen=True, slots=True)
class Control:
    kind: str  # stop | barge_in | played | drained | ping
    ms: int | None = None
    samples: int | None = None  # "played": input samples the page played since its previous flush


ClientMessage = Hello | Audio | Control


def _optional(obj: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str | None:
    value = obj.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise WireError(f"invalid {key}")
    return value


def parse_client(message: str | bytes | None) -> ClientMessage:
    if message is None:  # how the server library hands over an empty binary message
        message = b""
    if isinstance(message, bytes | bytearray):
        if len(message) > MAX_AUDIO_BYTES:
            raise MessageTooBig(len(message), MAX_AUDIO_BYTES)
        if not message or len(message) % 2:
            raise WireError("audio frames are PCM16: a non-empty, even number of bytes")
        return Audio(bytes(message))
    if len(message) > MAX_TEXT_CHARS:
        raise MessageTooBig(len(message), MAX_TEXT_CHARS)
    try:
        obj = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…]]]]" nested deeper than the parser goes
        raise WireError("text messages must be JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise WireError('a message is a JSON object with a "type"')
    kind = obj["type"]
    if kind == "hello":
        return Hello(
            agent=_optional(obj, "agent", _AGENT),
            session_id=_optional(obj, "session_id", _SESSION_ID),
            token=_optional(obj, "token", _TOKEN),
            lang=_optional(obj, "lang", _LANG),
        )
    if kind in ("stop", "barge_in", "drained", "ping"):
        return Control(kind)
    if kind == "played":
        ms = obj.get("ms")
        if not isinstance(ms, int | float) or isinstance(ms, bool) or not math.isfinite(ms) or ms < 0:
            raise WireError('"played" needs a number "ms" >= 0')
        samples = obj.get("samples")
        if samples is not None and (not isinstance(samples, int) or isinstance(samples, bool) or samples < 0):
            raise WireError('"played" samples must be a whole number >= 0')
        return Control("played", int(ms), samples)
    raise WireError(f"unknown message type {kind[:40]!r}")


# --- gateway → browser --------------------------------------------------------------------------------------------------
def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def ready(session_id: str, token: str, agent: str, resumed: bool, language: str, barge_in_ms: int) -> str:
    return dumps(
        {
            "type": "ready",
            "session_id": session_id,
            "token": token,
            "agent": agent,
            "sample_rate": SAMPLE_RATE,
            "resumed": resumed,
            "language": language,
            "barge_in_ms": barge_in_ms,
        }
    )


def error(code: str, message: str) -> str:
    return dumps({"type": "error", "code": code, "message": message})


def ended(reason: str) -> str:
    return dumps({"type": "ended", "reason": reason})


CLEAR = dumps({"type": "clear"})
PONG = dumps({"type": "pong"})


def _output(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def hub_event(event: HubEvent) -> str | None:
    """The page's view of a conversation event, or None for events the page does not show."""
    if isinstance(event, TranscriptDelta):
        return dumps({"type": "transcript", "role": event.role, "text": event.text, "final": False, "item_id": event.item_id})
    if isinstance(event, TranscriptFinal):
        return dumps({"type": "transcript", "role": event.role, "text": event.text, "final": True, "item_id": event.item_id})
    if isinstance(event, ToolCallStarted):
        return dumps({"type": "tool_call", "call_id": event.call_id, "name": event.name, "arguments": event.arguments})
    if isinstance(event, ToolCallFinished):
        return dumps(
            {"type": "tool_result", "call_id": event.call_id, "name": event.name, "ok": event.ok, "output": _output(event.output)}
        )
    if isinstance(event, SessionError):  # details stay in the gateway's log and console: they may name providers
        if event.fatal:
            return error("engine_fatal", "The voice service was lost; the conversation has to end.")
        return error("engine", "The voice service had a problem; the conversation goes on.")
    return None
