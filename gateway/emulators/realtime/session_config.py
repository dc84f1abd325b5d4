"""The session object a connection negotiates, in either dialect, and how ``session.update`` changes it.

The emulator keeps the session in the exact wire shape of its dialect (nested ``audio.input...`` for GA, flat
``turn_detection``/``voice`` for beta) so ``session.created``/``session.updated`` echo what the real service would,
and reads the effective settings (VAD, voice, transcription...) through one accessor per concept. Validation
mirrors the real service where a gateway could plausibly get it wrong: GA requires ``session.type``, and
each dialect rejects the other's fields.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from .audio_format import ga_codec
from .dialect import Dialect

GA_FIELDS = frozenset(
    {
        "type", "model", "instructions", "output_modalities", "tools", "tool_choice", "max_output_tokens",
        "tracing", "prompt", "include", "audio", "truncation", "reasoning", "parallel_tool_calls",
    }
)  # fmt: skip
GA_AUDIO_INPUT_FIELDS = frozenset({"format", "turn_detection", "transcription", "noise_reduction"})
GA_AUDIO_OUTPUT_FIELDS = frozenset({"format", "voice", "speed"})
BETA_FIELDS = frozenset(
    {
        "modalities", "instructions", "voice", "input_audio_format", "output_audio_format",
        "input_audio_transcription", "input_audio_noise_reduction", "turn_detection", "tools", "tool_choice",
        "temperature", "max_response_output_tokens", "model", "speed", "tracing", "include", "prompt",
    }
)  # fmt: skip
#: Read-only fields a client may echo back from ``session.created``; ignored rather than rejected.
ECHOED_FIELDS = frozenset({"id", "object", "expires_at", "client_secret"})
BETA_AUDIO_FORMATS = frozenset({"pcm16", "g711_ulaw", "g711_alaw"})
GA_AUDIO_FORMATS = frozenset({"audio/pcm", "audio/pcmu", "audio/pcma"})
SEMANTIC_SILENCE_MS = {"low": 800, "medium": 500, "auto": 500, "high": 250}


class SessionError(Exception):
    """A ``session.update`` the real service would refuse; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _ga_format(fmt: dict[str, Any], side: str) -> dict[str, Any]:
    """Validate a GA audio format and return it as the service echoes it: PCM always with its rate 24000, G.711
    (8 kHz only) as the bare type, like the SDK's ``AudioPCMU``/``AudioPCMA`` models. A G.711 ``rate`` of 8000 is
    accepted (Twilio's own agent library sends it); any other rate is refused (INFERENCE: the docs give none)."""
    kind = fmt.get("type")
    if kind not in GA_AUDIO_FORMATS:
        raise SessionError("invalid_value", f"Invalid value: '{kind}'.", f"session.audio.{side}.format.type")
    rate = fmt.get("rate")
    if kind == "audio/pcm":
        if rate not in (None, 24000):
            raise SessionError("invalid_value", f"Invalid value: {rate}. Supported values are: 24000.",
                               f"session.audio.{side}.format.rate")  # fmt: skip
        return {"type": kind, "rate": 24000}
    if rate not in (None, 8000):
        raise SessionError("invalid_value", f"Invalid value: {rate}. Supported values are: 8000.",
                           f"session.audio.{side}.format.rate")  # fmt: skip
    return {"type": kind}


@dataclass(frozen=True, slots=True)
class TurnDetection:
    """Effective turn detection, whatever the dialect or VAD type."""

    type: str
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool


def _server_vad(dialect: Dialect, silence_ms: int) -> dict[str, Any]:
    td: dict[str, Any] = {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }
    if dialect is Dialect.GA:
        td["idle_timeout_ms"] = None
    return td


def _semantic_vad() -> dict[str, Any]:
    return {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class SessionSettings:
    """The negotiated session of one connection."""

    def __init__(self, dialect: Dialect, session_id: str, model: str, instructions: str, lifetime_s: int) -> None:
        self.dialect = dialect
        expires = int(time.time()) + lifetime_s
        if dialect is Dialect.GA:
            self.data: dict[str, Any] = {
                "type": "realtime", "object": "realtime.session", "id": session_id, "model": model,
                "output_modalities": ["audio"], "instructions": instructions, "tools": [], "tool_choice": "auto",
                "max_output_tokens": "inf", "tracing": None, "prompt": None, "expires_at": expires,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                        "noise_reduction": None, "turn_detection": _server_vad(dialect, 200),
                    },
                    "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
                },
                "include": None,
            }  # fmt: skip
        else:
            self.data = {
                "id": session_id, "object": "realtime.session", "model": model, "expires_at": expires,
                "modalities": ["text", "audio"], "instructions": instructions, "voice": "alloy",
                "input_audio_format": "pcm16", "output_audio_format": "pcm16", "input_audio_transcription": None,
                "input_audio_noise_reduction": None, "turn_detection": _server_vad(dialect, 200), "tools": [],
                "tool_choice": "auto", "temperature": 0.8, "max_response_output_tokens": "inf", "speed": 1.0,
                "tracing": None,
            }  # fmt: skip

    # ---- reading ---------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    @property
    def instructions(self) -> str:
        return str(self.data.get("instructions") or "")

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.data.get("tools") or [])

    @property
    def voice(self) -> Any:
        if self.dialect is Dialect.GA:
            return self.data["audio"]["output"].get("voice")
        return self.data.get("voice")

    @property
    def output_modalities(self) -> list[str]:
        key = "output_modalities" if self.dialect is Dialect.GA else "modalities"
        return list(self.data.get(key) or ["audio"])

    @property
    def input_codec(self) -> str:
        """``pcm16``, ``g711_ulaw`` or ``g711_alaw``: how ``input_audio_buffer.append`` audio is encoded."""
        if self.dialect is Dialect.GA:
            return ga_codec(self.data["audio"]["input"].get("format"))
        return str(self.data.get("input_audio_format") or "pcm16")

    @property
    def output_codec(self) -> str:
        """How response audio deltas are encoded (same names as ``input_codec``)."""
        if self.dialect is Dialect.GA:
            return ga_codec(self.data["audio"]["output"].get("format"))
        return str(self.data.get("output_audio_format") or "pcm16")

    @property
    def output_format_echo(self) -> Any:
        """The output format as a response object echoes it (``audio.output.format`` / ``output_audio_format``)."""
        if self.dialect is Dialect.GA:
            return copy.deepcopy(self.data["audio"]["output"].get("format"))
        return self.data.get("output_audio_format")

    @property
    def transcription(self) -> dict[str, Any] | None:
        if self.dialect is Dialect.GA:
            return self.data["audio"]["input"].get("transcription")
        return self.data.get("input_audio_transcription")

    @property
    def raw_turn_detection(self) -> dict[str, Any] | None:
        if self.dialect is Dialect.GA:
            return self.data["audio"]["input"].get("turn_detection")
        return self.data.get("turn_detection")

    @property
    def turn_detection(self) -> TurnDetection | None:
        td = self.raw_turn_detection
        if td is None:
            return None
        if td.get("type") == "semantic_vad":
            silence = SEMANTIC_SILENCE_MS.get(str(td.get("eagerness", "auto")), 500)
            return TurnDetection("semantic_vad", 0.5, 300, silence, bool(td.get("create_response", True)),
                                 bool(td.get("interrupt_response", True)))  # fmt: skip
        return TurnDetection(
            "server_vad",
            float(td.get("threshold", 0.5) if td.get("threshold") is not None else 0.5),
            int(td.get("prefix_padding_ms") or 0),
            int(td.get("silence_duration_ms") or 0) or 500,
            bool(td.get("create_response", True)),
            bool(td.get("interrupt_response", True)),
        )

    # ---- updating --------------------------------------------------------------------------------------------

    def apply_update(self, update: Any, *, strict: bool, has_assistant_audio: bool) -> None:
        """Merge a ``session.update`` payload; raises ``SessionError`` (and changes nothing) when it is invalid."""
        if not isinstance(update, dict):
            raise SessionError("invalid_type", "Invalid type for 'session': expected an object.", "session")
        update = {k: v for k, v in update.items() if k not in ECHOED_FIELDS}
        if self.dialect is Dialect.GA:
            merged = self._merge_ga(update, strict)
        else:
            merged = self._merge_beta(update, strict)
        new_voice = merged["audio"]["output"].get("voice") if self.dialect is Dialect.GA else merged.get("voice")
        if has_assistant_audio and new_voice != self.voice:
            raise SessionError(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                "session.voice",
            )
        for i, tool in enumerate(merged.get("tools") or []):
            if not isinstance(tool, dict) or tool.get("type", "function") not in ("function", "mcp"):
                raise SessionError("invalid_value", f"Invalid tool at session.tools[{i}].", f"session.tools[{i}]")
            if tool.get("type", "function") == "function" and not tool.get("name"):
                raise SessionError(
                    "missing_required_parameter",
                    f"Missing required parameter: 'session.tools[{i}].name'.",
                    f"session.tools[{i}].name",
                )
        self.data = merged

    def _unknown(self, fields: dict[str, Any], known: frozenset[str], prefix: str) -> None:
        for key in fields:
            if key not in known:
                raise SessionError("unknown_parameter", f"Unknown parameter: '{prefix}{key}'.", f"{prefix}{key}")

    def _merge_ga(self, update: dict[str, Any], strict: bool) -> dict[str, Any]:
        if strict:
            if "type" not in update:
                raise SessionError(
                    "missing_required_parameter", "Missing required parameter: 'session.type'.", "session.type"
                )
            self._unknown(update, GA_FIELDS, "session.")
            audio = update.get("audio") or {}
            if isinstance(audio, dict):
                self._unknown(audio, frozenset({"input", "output"}), "session.audio.")
                self._unknown(audio.get("input") or {}, GA_AUDIO_INPUT_FIELDS, "session.audio.input.")
                self._unknown(audio.get("output") or {}, GA_AUDIO_OUTPUT_FIELDS, "session.audio.output.")
        if update.get("type", "realtime") != "realtime":
            raise SessionError(
                "invalid_value",
                f"Invalid value: '{update.get('type')}'. This emulator supports only 'realtime' sessions.",
                "session.type",
            )
        audio_in = ((update.get("audio") or {}).get("input") or {}) if isinstance(update.get("audio"), dict) else {}
        current_td = self.data["audio"]["input"].get("turn_detection")
        merged = _merge(self.data, update)
        if "turn_detection" in audio_in:
            merged["audio"]["input"]["turn_detection"] = self._turn_detection(audio_in["turn_detection"], current_td)
        if "transcription" in audio_in:
            merged["audio"]["input"]["transcription"] = copy.deepcopy(audio_in["transcription"])
        for side in ("input", "output"):
            sent = ((update.get("audio") or {}).get(side) or {}) if isinstance(update.get("audio"), dict) else {}
            if isinstance(sent, dict) and isinstance(sent.get("format"), dict) and "type" in sent["format"]:
                merged["audio"][side]["format"] = copy.deepcopy(sent["format"])  # a new type replaces the old
            merged["audio"][side]["format"] = _ga_format(merged["audio"][side].get("format") or {}, side)
        return merged

    def _merge_beta(self, update: dict[str, Any], strict: bool) -> dict[str, Any]:
        if strict:
            self._unknown(update, BETA_FIELDS, "session.")
        current_td = self.data.get("turn_detection")
        merged = _merge(self.data, update)
        if "turn_detection" in update:
            merged["turn_detection"] = self._turn_detection(update["turn_detection"], current_td)
        if "input_audio_transcription" in update:
            merged["input_audio_transcription"] = copy.deepcopy(update["input_audio_transcription"])
        for key in ("input_audio_format", "output_audio_format"):
            if merged.get(key) not in BETA_AUDIO_FORMATS:
                raise SessionError(
                    "invalid_value",
                    f"Invalid value: '{merged.get(key)}'. Supported values are: 'pcm16', 'g711_ulaw', and 'g711_alaw'.",
                    f"session.{key}",
                )
        return merged

    def _turn_detection(self, value: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
        """Replace turn detection: same type merges into the current one, a new type starts from its defaults."""
        if value is None:
            return None
        if not isinstance(value, dict):
            raise SessionError("invalid_type", "Invalid type for turn_detection.", "session.turn_detection")
        kind = value.get("type", "server_vad")
        if kind not in ("server_vad", "semantic_vad"):
            raise SessionError(
                "invalid_value",
                f"Invalid value: '{kind}'. Supported values are: 'server_vad' and 'semantic_vad'.",
                "session.turn_detection.type",
            )
        if current is not None and current.get("type") == kind:
            base = current
        else:
            base = _server_vad(self.dialect, 500) if kind == "server_vad" else _semantic_vad()
        return _merge(base, value)
