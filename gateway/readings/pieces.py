"""The unit every reading rule produces: a stretch of the written text with the reading the synthesizer must use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Piece:
    """``text`` as written; ``reading`` in katakana (``None``: left to the analyser or the voice); ``pause``: a
    short silence in place of ``text`` (a phone number's group separator); ``sapi``: the reading with its accent in
    Azure's ja-JP SAPI phone set, for voices that take ``<phoneme>``."""

    text: str
    reading: str | None = None
    pause: bool = False
    sapi: str | None = None


def pause(text: str) -> Piece:
    return Piece(text, "", pause=True)
