"""Typed values shared by the ACS emulator's modules (wire shapes stay in ``events.py`` and ``rest.py``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from gateway.audio import frame_bytes
from gateway.emulators.ssml import Reading

ACS_ISSUER = "https://acscallautomation.communication.azure.com"
EVENT_PREFIX = "Microsoft.Communication."
PHONE_PREFIX = "4:"


class CallState(enum.StrEnum):
    """``callConnectionState`` values the SDK knows (generated enum)."""

    UNKNOWN = "unknown"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    DISCONNECTED = "disconnected"


AUDIO_FORMAT_RATES = {"pcm16kmono": 16_000, "pcm24kmono": 24_000}


def audio_format_rate(audio_format: str | None) -> int:
    """Sample rate of an ``audioFormat`` value; ACS documents PCM 16 kHz mono as the default."""
    if not audio_format:
        return 16_000
    try:
        return AUDIO_FORMAT_RATES[audio_format.lower()]
    except KeyError:
        raise ValueError(f"unsupported audioFormat {audio_format!r}") from None


@dataclass(slots=True, frozen=True)
class MediaStreamingConfig:
    """``mediaStreamingOptions`` of an answer/create body, parsed once so the media client never sees raw dicts."""

    transport_url: str
    audio_format: str = "pcm16KMono"
    start_media_streaming: bool = False
    enable_bidirectional: bool = False
    enable_dtmf_tones: bool = False
    audio_channel_type: str = "mixed"
    content_type: str = "audio"

    @property
    def rate(self) -> int:
        return audio_format_rate(self.audio_format)

    @property
    def frame_size(self) -> int:
        return frame_bytes(self.rate)

    @classmethod
    def from_wire(cls, options: dict[str, Any]) -> MediaStreamingConfig:
        url = options.get("transportUrl")
        if not isinstance(url, str) or not url:
            raise ValueError("mediaStreamingOptions.transportUrl is required")
        audio_format = str(options.get("audioFormat") or "pcm16KMono")
        audio_format_rate(audio_format)  # validate early: the REST layer turns ValueError into 400
        return cls(
            transport_url=url,
            audio_format=audio_format,
            start_media_streaming=bool(options.get("startMediaStreaming", False)),
            enable_bidirectional=bool(options.get("enableBidirectional", False)),
            enable_dtmf_tones=bool(options.get("enableDtmfTones", False)),
            audio_channel_type=str(options.get("audioChannelType") or "mixed"),
            content_type=str(options.get("contentType") or "audio"),
        )


def phone_identifier(number: str) -> dict[str, Any]:
    """A PSTN ``CommunicationIdentifierModel`` as ACS sends it in events (with ``kind``)."""
    return {"kind": "phoneNumber", "rawId": PHONE_PREFIX + number, "phoneNumber": {"value": number}}


@dataclass(slots=True)
class RecordedRequest:
    """One REST request the emulator received, kept so tests can assert on bodies and ordering."""

    method: str
    path: str
    operation: str
    call_connection_id: str | None
    query: dict[str, str]
    body: Any
    time: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class CallbackDelivery:
    """One CloudEvent sent (or attempted) to the gateway's callback URI."""

    event_type: str
    event: dict[str, Any]
    queued_at: float
    sent_at: float | None = None
    status: int | None = None
    error: str | None = None

    @property
    def short_type(self) -> str:
        return self.event_type.removeprefix(EVENT_PREFIX)

    @property
    def data(self) -> dict[str, Any]:
        data = self.event.get("data")
        return data if isinstance(data, dict) else {}


@dataclass(slots=True, frozen=True)
class PlayConfig:
    """How the emulated text-to-speech playback behaves: fixed duration, or estimated from the text; may fail."""

    duration_s: float | None = None
    fail: bool = False
    seconds_per_char: float = 0.08
    min_duration_s: float = 0.3
    max_duration_s: float = 30.0

    def duration_for(self, text: str) -> float:
        if self.duration_s is not None:
            return self.duration_s
        return min(self.max_duration_s, max(self.min_duration_s, len(text) * self.seconds_per_char))


@dataclass(slots=True)
class PlayRecord:
    """One emulated ``:play``: what was asked, when it ran and how it ended (completed, failed, canceled).

    ``texts`` are the play sources as written, ``spoken`` what the caller hears (SSML ``sub`` aliases and
    ``phoneme`` readings applied); ``error`` is why text to speech refused source ``failed_source_index``."""

    texts: list[str]
    operation_context: str | None
    duration_s: float
    requested_at: float
    started_at: float | None = None
    ended_at: float | None = None
    outcome: str | None = None
    spoken: list[str] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    error: str | None = None
    failed_source_index: int | None = None
