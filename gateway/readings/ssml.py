"""SSML for Azure Speech built from reading pieces: ``<sub alias>`` for every piece given a reading.

``<sub>`` works on every Japanese voice. ``<phoneme alphabet="sapi">`` only for dictionary entries that give an
accented ``sapi`` reading (checked against the phone set when the file loads: an unrecognised phone would make
Azure reject the whole document), and only on voices that take it; HD voices have neither ``<phoneme>`` nor
``<break>`` (a pause becomes 「、」 there). Everything written by a model or a caller is XML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from .pieces import Piece

SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
PAUSE_MS = 250


def is_hd(voice: str) -> bool:
    """HD voices (``ja-JP-Nanami:DragonHDLatestNeural``) take ``<sub>`` but no ``<break>`` and no ``<phoneme>``."""
    return "DragonHD" in voice or ":" in voice


def body(pieces: Iterable[Piece], voice: str) -> str:
    out: list[str] = []
    neural = not is_hd(voice)
    for piece in pieces:
        if piece.pause:
            out.append(f'<break time="{PAUSE_MS}ms"/>' if neural else "、")
        elif piece.sapi and neural:
            out.append(f'<phoneme alphabet="sapi" ph={quoteattr(piece.sapi)}>{escape(piece.text)}</phoneme>')
        elif piece.reading:
            out.append(f"<sub alias={quoteattr(piece.reading)}>{escape(piece.text)}</sub>")
        else:
            out.append(escape(piece.text))
    return "".join(out)


def document(pieces: Iterable[Piece], voice: str, language: str = "ja-JP") -> str:
    """A complete ``<speak>`` document for one sentence in one voice."""
    return (
        f'<speak version="1.0" xmlns="{SSML_NAMESPACE}" xml:lang={quoteattr(language)}>'
        f"<voice name={quoteattr(voice)}>{body(pieces, voice)}</voice></speak>"
    )
