"""What the caller actually heard of an interrupted agent turn, for the record.

The model already forgets what was never played (truncate); the transcript store must not keep it either, or a
summary and a supervisor reading the record would credit the agent with words the caller never heard. The agent's
text is cut in proportion to the audio played (``played ms / audio ms of the item``) and marked with an ellipsis.
The turn's final transcript can arrive before the barge-in (generation runs ahead of playback) or after it (a
cancelled response): before, the stored turn is amended; after, it is stored cut.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

from .events import TranscriptAmended, TranscriptFinal

KEEP_ITEMS = 8  # only the latest agent items can still be interrupted
WHOLE = 0.98  # this much played counts as heard in full
ELLIPSIS = "…"


def heard_part(text: str, fraction: float) -> str:
    """The first ``fraction`` of ``text``, with an ellipsis when something was cut."""
    if fraction >= WHOLE:
        return text
    cut = text[: round(len(text) * max(0.0, fraction))].rstrip()
    return cut + ELLIPSIS


class HeardTranscripts:
    """Per conversation: agent audio bytes per item, the items' final texts, and cuts waiting for their text."""

    __slots__ = ("_audio", "_bytes_per_ms", "_cuts", "_finals")

    def __init__(self, sample_rate: int, sample_width: int = 2) -> None:
        self._bytes_per_ms = sample_rate * sample_width / 1000
        self._audio: OrderedDict[str, int] = OrderedDict()
        self._finals: OrderedDict[str, str] = OrderedDict()
        self._cuts: OrderedDict[str, float] = OrderedDict()

    def audio(self, item_id: str, nbytes: int) -> None:
        """Agent audio of ``item_id`` went to the caller's device (the hot path: one dict update)."""
        audio = self._audio
        if item_id in audio:
            audio[item_id] += nbytes
        else:
            audio[item_id] = nbytes
            _bound(audio)

    def final(self, event: TranscriptFinal) -> TranscriptFinal:
        """The event to publish for an agent's final transcript: cut when its item was interrupted already."""
        fraction = self._cuts.pop(event.item_id, None)
        if fraction is not None:
            event = replace(event, text=heard_part(event.text, fraction), interrupted=fraction < WHOLE)
        self._finals[event.item_id] = event.text
        _bound(self._finals)
        return event

    def interrupted(self, item_id: str, played_ms: int) -> TranscriptAmended | None:
        """The caller cut ``item_id`` off after ``played_ms``: the amendment of its stored text, if it is stored."""
        sent_ms = self._audio.get(item_id, 0) / self._bytes_per_ms
        fraction = min(1.0, played_ms / sent_ms) if sent_ms else 0.0
        original = self._finals.get(item_id)
        if original is None:
            self._cuts[item_id] = fraction
            _bound(self._cuts)
            return None
        heard = heard_part(original, fraction)
        if heard == original:
            return None
        self._finals[item_id] = heard
        return TranscriptAmended(item_id, original, heard)


def _bound(items: OrderedDict[str, object]) -> None:
    while len(items) > KEEP_ITEMS:
        items.popitem(last=False)
