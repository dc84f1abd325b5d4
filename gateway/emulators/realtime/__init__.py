"""Emulator of the OpenAI / Azure OpenAI Realtime API (WebSocket), scripted for tests and the benchmark.

Serves ``/v1/realtime`` (OpenAI GA), ``/openai/v1/realtime`` (Azure GA) and ``/openai/realtime`` (Azure preview,
beta event names). Replies follow a ``Script`` and carry real recorded speech; every session is recorded for
assertions; faults (refusals, mid-response drops) can be injected. Audio is PCM16 24 kHz or G.711 μ-law / A-law
8 kHz on the wire, as the session's formats say (``audio_format``). See ``RealtimeEmulator``.
"""

from .app import create_realtime_app
from .config import AudioTap, BenchConfig, EmulatorConfig, Pacing, VadTuning
from .dialect import Dialect
from .emulator import RealtimeEmulator
from .faults import ConnectionStats
from .records import (
    AudioLog,
    CancelRecord,
    EventRecord,
    FunctionCallOutputRecord,
    OutputRecord,
    ResponseRecord,
    SessionRecord,
    TruncateRecord,
    UserTurn,
)
from .script import CallTool, Pick, ReplyContext, Say, Script
from .vad import EnergyVad, VadEvent, VadParams

__all__ = [
    "AudioLog",
    "AudioTap",
    "BenchConfig",
    "CallTool",
    "Pick",
    "CancelRecord",
    "ConnectionStats",
    "Dialect",
    "EmulatorConfig",
    "EnergyVad",
    "EventRecord",
    "FunctionCallOutputRecord",
    "OutputRecord",
    "Pacing",
    "RealtimeEmulator",
    "ReplyContext",
    "ResponseRecord",
    "Say",
    "Script",
    "SessionRecord",
    "TruncateRecord",
    "UserTurn",
    "VadEvent",
    "VadParams",
    "VadTuning",
    "create_realtime_app",
]
