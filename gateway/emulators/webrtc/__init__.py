"""Emulator of the Realtime API's browser side: ephemeral keys and WebRTC calls, with an aiortc peer that hears
the caller, speaks real recorded speech back, and talks the Realtime event protocol on the data channel.

Mint endpoints of OpenAI GA, Azure GA and Azure preview; the SDP endpoint accepts only keys it issued. Everything
is recorded for assertions (keys and the session set at mint time, SDP offers, data-channel events, caller audio
energy, tool outputs). See ``WebRtcEmulator``.
"""

from gateway.emulators.realtime.script import CallTool, Say, Script

from .app import create_webrtc_app
from .config import WebRtcEmulatorConfig, default_script
from .emulator import Faults, WebRtcEmulator
from .keys import MintRecord
from .records import CallRecord, FunctionCallOutput, ReceivedAudio, ResponseLog

__all__ = [
    "CallRecord",
    "CallTool",
    "Faults",
    "FunctionCallOutput",
    "MintRecord",
    "ReceivedAudio",
    "ResponseLog",
    "Say",
    "Script",
    "WebRtcEmulator",
    "WebRtcEmulatorConfig",
    "create_webrtc_app",
    "default_script",
]
