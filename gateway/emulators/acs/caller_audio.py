"""The caller's side of the media stream: a queue of utterances, pauses and DTMF digits, cut into 20 ms frames on
demand. Silence fills every gap, as a phone line never stops sending."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gateway.audio import AudioChunk, read_wav, resample


@dataclass(slots=True, frozen=True)
class Speech:
    """An utterance; resampled to the stream's rate when queued, never on the frame clock."""

    audio: AudioChunk
    label: str = "speech"


@dataclass(slots=True, frozen=True)
class Silence:
    ms: int


@dataclass(slots=True, frozen=True)
class Dtmf:
    """A DTMF digit, sent as a ``DtmfData`` message alongside the next audio frame (only if enableDtmfTones)."""

    digit: str


ScriptItem = Speech | Silence | Dtmf
DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")


def speech_from_wav(path: str | Path, label: str | None = None) -> Speech:
    return Speech(read_wav(path), label or Path(path).stem)


def as_script_item(item: ScriptItem | str | Path | AudioChunk) -> ScriptItem:
    """Accept a WAV path or an ``AudioChunk`` wherever a script item is expected."""
    if isinstance(item, Speech | Silence | Dtmf):
        return item
    if isinstance(item, AudioChunk):
        return Speech(item)
    return speech_from_wav(item)


class ScriptedCaller:
    """What every emulated caller can do once it can ``say`` a script item: pause and key digits."""

    def say(self, item: ScriptItem | str | Path | AudioChunk) -> None:
        raise NotImplementedError

    def pause(self, ms: int) -> None:
        self.say(Silence(ms))

    def press(self, digits: str) -> None:
        for digit in digits:
            self.say(Dtmf(digit))


@dataclass(slots=True, frozen=True)
class CallerFrame:
    """One 20 ms frame to send, plus the markers the timeline needs."""

    pcm: bytes
    silent: bool
    dtmf: tuple[str, ...] = ()
    speech_starts: str | None = None  # label of the utterance whose first frame this is
    speech_ends: bool = False  # last frame of an utterance


class CallerAudio:
    """Turns the queued script into frames; ``next_frame`` is O(1) so it can run on the 20 ms clock."""

    def __init__(self, rate: int, frame_size: int) -> None:
        self.rate = rate
        self.frame_size = frame_size
        self._silence = bytes(frame_size)
        self._items: deque[ScriptItem] = deque()
        self._pcm = b""
        self._offset = 0
        self._label: str | None = None
        self._silent_frames_left = 0

    def add(self, item: ScriptItem | str | Path | AudioChunk) -> None:
        item = as_script_item(item)
        if isinstance(item, Speech) and item.audio.rate != self.rate:
            item = Speech(AudioChunk(resample(item.audio.pcm, item.audio.rate, self.rate), self.rate), item.label)
        if isinstance(item, Dtmf) and item.digit not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {item.digit!r}")
        self._items.append(item)

    @property
    def busy(self) -> bool:
        """True while speech or a scripted pause is still queued."""
        return bool(self._items) or self._label is not None or self._silent_frames_left > 0

    def clear(self) -> None:
        self._items.clear()
        self._pcm, self._offset, self._label, self._silent_frames_left = b"", 0, None, 0

    def next_frame(self) -> CallerFrame:
        dtmf: list[str] = []
        starts: str | None = None
        if self._label is None and self._silent_frames_left == 0:
            while self._items:
                item = self._items.popleft()
                if isinstance(item, Dtmf):
                    dtmf.append(item.digit)
                elif isinstance(item, Silence):
                    self._silent_frames_left = max(0, round(item.ms / 1000 * self.rate * 2 / self.frame_size))
                    if self._silent_frames_left:
                        break
                elif item.audio.pcm:
                    self._pcm, self._offset, self._label = item.audio.pcm, 0, item.label
                    starts = item.label
                    break
        if self._label is not None:
            chunk = self._pcm[self._offset : self._offset + self.frame_size]
            self._offset += self.frame_size
            ends = self._offset >= len(self._pcm)
            if ends:
                self._label, self._pcm = None, b""
            if len(chunk) < self.frame_size:
                chunk = chunk.ljust(self.frame_size, b"\0")
            return CallerFrame(chunk, False, tuple(dtmf), starts, ends)
        if self._silent_frames_left:
            self._silent_frames_left -= 1
        return CallerFrame(self._silence, True, tuple(dtmf))
