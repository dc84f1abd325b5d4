"""How a carrier plugs into the telephony core: its call control and its media adapter, and the typed media events.

The core never reads a carrier's wire format: a media adapter turns each socket message into one of the events
below (or ``None`` for messages that need nothing), and owns the sink that carries agent audio to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.sink import AudioSink, CallerEncoding


@dataclass(frozen=True, slots=True)
class CallerAudio:
    """Caller audio in the engine's format (base64): 24 kHz PCM16, or 8 kHz μ-law passed through (``encoding``
    "pcmu"), which the conversation's voice check reads as it is (no per-frame conversion just for a level)."""

    b64: str
    encoding: CallerEncoding = "pcm16"


@dataclass(frozen=True, slots=True)
class DtmfDigits:
    digits: str


@dataclass(frozen=True, slots=True)
class PlayoutMark:
    """The carrier echoed a playout mark the sink had sent."""

    name: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """The carrier ends the media stream (the call may still be up: call status is the carrier's callbacks' word)."""


MediaEvent = CallerAudio | DtmfDigits | PlayoutMark | StreamStopped


class MediaRefused(Exception):
    """The media socket broke the protocol; the socket is closed with ``code`` (1008 policy, 1009 too big)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class MediaAdapter(Protocol):
    """One call's media socket, as the carrier speaks it."""

    @property
    def sink(self) -> AudioSink: ...

    def parse(self, message: str | bytes) -> MediaEvent | None:
        """One socket message as a typed event; raises ``ValueError`` (the wire's error) for a malformed one and
        ``MediaRefused`` for one that must end the socket."""
        ...

    def mark_echoed(self, name: str) -> None:
        """A playout mark came back (carriers without marks never produce one)."""
        ...

    async def drained(self, timeout: float) -> None:
        """Return once the caller has heard everything sent (bounded by ``timeout``), so a goodbye is not cut."""
        ...


class CallControl(Protocol):
    """A carrier's call control, addressed by its own id of the call (ACS connection id, Twilio CallSid)."""

    async def greet(self, call_id: str, text: str, voice: str, language: str) -> None:
        """Speak the greeting with the carrier's text-to-speech; the core learns its end from ``greeting_done``."""

    async def start_bridge(self, call_id: str) -> None:
        """Ask the carrier to connect the media socket."""

    async def apologise(self, call_id: str, text: str, voice: str, language: str) -> None:
        """Speak the apology; the carrier hangs up after it or tells the core (``apology_done``)."""

    async def hang_up(self, call_id: str) -> None:
        """End the call for everyone; a call already gone is not an error."""

    async def transfer(self, call_id: str, target: str, call_key: str) -> None:
        """Hand the call to ``target`` (E.164), cold; raises when the carrier refuses at once."""

    async def close(self) -> None: ...
