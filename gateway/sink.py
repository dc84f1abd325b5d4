"""The two things a channel hands a conversation: a way to the caller's ears, and what its caller frames are."""

from __future__ import annotations

from typing import Literal, Protocol

from .events import AudioOut
from .playout import Playout


class AudioSink(Protocol):
    """A channel's way to the caller's ears."""

    async def play(self, audio: AudioOut) -> None: ...

    async def clear(self, keep_item: bool = False) -> float:
        """Drop queued audio on the device; return ms of the current item heard, to the sample (a pause resumes from
        exactly there). ``keep_item``: a pause, not a cut."""
        ...

    def audible(self) -> bool: ...

    async def flush(self) -> None:
        """The response ended: send any partial frame still held back."""
        ...

    async def heard_at_pause(self) -> tuple[str, float] | None:
        """Where the device itself said it stopped at the last pause (item, ms), when it answers a clear later than
        the clear returns (the browser page; awaited, bounded); ``None``: what ``clear`` returned stands."""
        ...

    @property
    def exact_flush(self) -> bool:
        """The device answers a flush with exactly what it played (the page's report), so a pause may flush it and
        still resume to the sample; where it cannot (ACS reports nothing; a Twilio mark echoed as a clear lands may
        be played or cleared), a pause only stops sending (gateway.turns.pacer)."""
        ...

    @property
    def item_id(self) -> str:
        """The agent item being played (what a truncate refers to)."""
        ...

    @property
    def playout(self) -> Playout:
        """The caller's playback as this channel knows it (modelled, or from the device's marks): the one view a
        turn-taking policy reads, whatever the carrier."""
        ...


CallerEncoding = Literal["pcm16", "pcmu"]  # 24 kHz PCM16, or G.711 μ-law at 8 kHz (a phone's own)
