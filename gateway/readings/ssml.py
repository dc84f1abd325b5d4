"""SSML for Azure Speech built from reading pieces: ``<sub alias>`` for every piece given a reading.

Only ``<sub>`` and ``<break>`` are used: both work on every Japanese voice (HD voices have no ``<break>``, so a
pause becomes 「、」 there), while an unrecognised ``<phoneme>`` would make Azure reject the whole document.
Everything written by a model or a caller is XML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from .pieces import Piece

SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
PAUSE_MS = 250


def supports_break(voice: str) -> bool:
    """HD voices (``ja-JP-Nanami:DragonHDLatestNeural``) ignore ``<break>``; neural voices honour it."""
    return "DragonHD" not in voice and ":" not in voice


def body(pieces: Iterable[Piece], voice: str) -> str:
    out: list[str] = []
    breaks = supports_break(voice)
    for piece in pieces:
        if piece.pause:
            out.append(f'<break time="{PAUSE_MS}ms"/>' if breaks else "、")
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
