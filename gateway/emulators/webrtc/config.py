"""Configuration of the WebRTC emulator: who may mint keys, what the emulated model says, how its VAD is tuned."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.emulators.realtime.config import VadTuning
from gateway.emulators.realtime.script import CallTool, Say, Script

DEFAULT_TTL_S = 600
MIN_TTL_S = 10
MAX_TTL_S = 7200


def default_script() -> Script:
    """Greets, answers the first turn with a ``get_current_time`` call, then quotes the tool's answer."""
    return Script(
        steps=[
            Say(text="お電話ありがとうございます。ご用件をお話しください。", clips=("hello",)),
            CallTool(
                "get_current_time", {}, then=Say(text="ただいまの時刻は{output[time_spoken]}です。", clips=("hello",))
            ),
        ],
        user_transcripts=["いま何時ですか。"],
    )


@dataclass(slots=True)
class WebRtcEmulatorConfig:
    """Everything that shapes one emulator instance.

    ``api_keys``: the provider keys that may mint ephemeral keys (``None`` accepts any non-empty key).
    ``script``: what the "model" says, one step per response (``realtime.script``). ``loopback_ice``: patch aioice
    so the peer offers 127.0.0.1 (needed on machines with only loopback; see ``ice.py``).
    ``preview_key_ttl_s``: Azure preview keys are valid one minute and callers cannot choose.
    """

    api_keys: frozenset[str] | None = None
    script: Script = field(default_factory=default_script)
    vad: VadTuning = field(default_factory=VadTuning)
    loopback_ice: bool = True
    strict: bool = True
    preview_key_ttl_s: int = 60
    default_instructions: str = "You are a helpful voice assistant."
    keep_audio_s: float = 60.0
