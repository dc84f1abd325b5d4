"""Records the speech emulator keeps: recognized utterances, recognition sessions and synthesis turns."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.emulators.speech.vad import TICKS_PER_MS
from gateway.emulators.ssml import Reading


def placeholder_text(index: int) -> str:
    """The text recognized for utterance ``index`` (1-based) when the script has none."""
    return f"(発話{index})"


@dataclass(slots=True)
class Utterance:
    """One utterance the VAD found and the emulator recognized. Times are on the clock of its turn (what goes on
    the wire); add ``turn_offset_ms`` for the position in the session's audio (what the SDK reports)."""

    index: int  # 1-based, across the whole emulator (the script position)
    session_index: int  # 1-based, within its recognition session
    request_id: str
    text: str  # "" for NoMatch
    start_ms: float
    turn_offset_ms: float = 0.0
    end_ms: float = 0.0
    hypotheses: list[str] = field(default_factory=list)
    final: bool = False

    @property
    def offset_ticks(self) -> int:
        return round(self.start_ms * TICKS_PER_MS)

    @property
    def duration_ticks(self) -> int:
        return round((self.end_ms - self.start_ms) * TICKS_PER_MS)

    @property
    def stream_start_ms(self) -> float:
        return self.turn_offset_ms + self.start_ms

    @property
    def stream_end_ms(self) -> float:
        return self.turn_offset_ms + self.end_ms


@dataclass(slots=True)
class RecognitionSession:
    """One recognition WebSocket connection (the SDK keeps one per recognizer and runs turns on it)."""

    connection_id: str
    path: str
    language: str
    query: dict[str, str]
    headers: dict[str, str]
    started_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    speech_config: Any = None
    contexts: list[Any] = field(default_factory=list)  # speech.context bodies, one per turn
    turns: list[str] = field(default_factory=list)  # X-RequestIds, in order
    sample_rate: int = 16_000
    audio: bytearray = field(default_factory=bytearray)  # PCM received (WAV headers stripped), all turns
    audio_messages: int = 0
    end_of_audio: int = 0  # how many empty audio messages (end of stream) arrived
    utterances: list[Utterance] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # paths of client messages, in order (audio collapsed)
    sent: list[str] = field(default_factory=list)  # paths of service messages, in order

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.utterances if u.final]

    @property
    def audio_ms(self) -> float:
        return len(self.audio) / 2 / self.sample_rate * 1000


@dataclass(slots=True)
class Synthesis:
    """One synthesis turn (one ``speak_*`` call). ``text`` is the written text of the SSML, ``spoken`` what the
    voice was told to say (``sub`` aliases, ``phoneme`` readings); ``error`` is why the service refused it."""

    connection_id: str
    request_id: str
    ssml: str
    text: str
    voice: str
    language: str
    output_format: str
    spoken: str = ""
    readings: list[Reading] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)  # exactly the audio payload bytes sent
    started_at: float = field(default_factory=time.monotonic)
    first_audio_at: float | None = None
    completed: bool = False  # turn.end sent
    error: str | None = None


ScriptEntry = str | None
Script = Sequence[ScriptEntry] | Callable[[RecognitionSession, int], ScriptEntry]
