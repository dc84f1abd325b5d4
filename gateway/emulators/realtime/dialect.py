"""The two wire dialects: GA (``response.output_audio.delta``...) and beta/preview (``response.audio.delta``...).

Azure's preview endpoint and OpenAI with ``OpenAI-Beta: realtime=v1`` still speak the beta names and the flat
session shape; everything else speaks GA. Keeping the differences in one table means the protocol code is
written once and a gateway that mixes the two up is caught by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Dialect(StrEnum):
    GA = "ga"
    BETA = "beta"


@dataclass(frozen=True, slots=True)
class EventNames:
    """Server event names and content-part types that differ between the dialects."""

    audio_delta: str
    audio_done: str
    transcript_delta: str
    transcript_done: str
    text_delta: str
    text_done: str
    item_added: str
    item_done: str | None
    audio_part: str
    text_part: str


GA_NAMES = EventNames(
    audio_delta="response.output_audio.delta",
    audio_done="response.output_audio.done",
    transcript_delta="response.output_audio_transcript.delta",
    transcript_done="response.output_audio_transcript.done",
    text_delta="response.output_text.delta",
    text_done="response.output_text.done",
    item_added="conversation.item.added",
    item_done="conversation.item.done",
    audio_part="output_audio",
    text_part="output_text",
)

BETA_NAMES = EventNames(
    audio_delta="response.audio.delta",
    audio_done="response.audio.done",
    transcript_delta="response.audio_transcript.delta",
    transcript_done="response.audio_transcript.done",
    text_delta="response.text.delta",
    text_done="response.text.done",
    item_added="conversation.item.created",
    item_done=None,
    audio_part="audio",
    text_part="text",
)


def names(dialect: Dialect) -> EventNames:
    return GA_NAMES if dialect is Dialect.GA else BETA_NAMES
