"""Japanese said right: the readings a speech synthesizer gets, one stage before speech, and spoken numbers
understood by code.

``pieces`` splits a text into what the deployment's dictionary and the rules know how to read (phone numbers,
dates, times, amounts, codes, place names in context) and the rest; ``katakana`` and ``ssml`` render them.
"""

from __future__ import annotations

import datetime as dt
import re

from . import numbers
from . import ssml as _ssml
from .analyser import katakana as _analyse
from .dictionary import ReadingsDictionary
from .digits import normalize_name, spoken_digits
from .phone import format_number as format_phone
from .phone import read_phone
from .pieces import Piece
from .rules import RULES, Reader

__all__ = [
    "Piece", "ReadingsDictionary", "format_phone", "katakana", "normalize_name", "pieces", "read_code",
    "read_date", "read_digits", "read_phone", "read_time", "spoken_digits", "spoken_text", "ssml",
]  # fmt: skip

NO_DICTIONARY = ReadingsDictionary()
# what the rules match on, one character for one: ０ → 0, ： → :, 　 → space, and the dashes people type in numbers
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20} | dict.fromkeys(map(ord, "ー‐―−"), "-")


def _anchored(read: list[Piece], original: str) -> list[Piece]:
    """The rule's pieces with the text as written (full width stays full width in what the voice is given)."""
    if "".join(p.text for p in read) != original.translate(_HALF_WIDTH):
        return read
    out, at = [], 0
    for piece in read:
        out.append(Piece(original[at : at + len(piece.text)], piece.reading, piece.pause, piece.sapi))
        at += len(piece.text)
    return out


def _claim(piece: Piece, pattern: re.Pattern[str], reader: Reader, separator: str) -> list[Piece]:
    written, matched = piece.text, piece.text.translate(_HALF_WIDTH)
    out: list[Piece] = []
    last = 0
    for match in pattern.finditer(matched):
        read = reader(match, separator)
        if read is None or match.start() < last:
            continue
        if match.start() > last:
            out.append(Piece(written[last : match.start()]))
        out.extend(_anchored(read, written[match.start() : match.end()]))
        last = match.end()
    if last < len(written):
        out.append(Piece(written[last:]))
    return out


def pieces(text: str, dictionary: ReadingsDictionary = NO_DICTIONARY, context: str = "") -> list[Piece]:
    """The text as pieces, in order and complete; ``context`` is what else is known about the call (an address).
    Rules see full-width digits and letters as ASCII (one character for one, so positions hold)."""
    out = dictionary.pieces(text, context)
    for pattern, reader in RULES:
        claimed: list[Piece] = []
        for piece in out:
            if piece.reading is not None or piece.pause:
                claimed.append(piece)
            else:
                claimed.extend(_claim(piece, pattern, reader, dictionary.phone_group_separator))
        out = claimed
    return out


def render_katakana(parts: list[Piece]) -> str:
    return "".join("、" if p.pause else (p.reading if p.reading is not None else _analyse(p.text)) for p in parts)


def katakana(text: str, dictionary: ReadingsDictionary = NO_DICTIONARY, context: str = "") -> str:
    """The reading form a synthesizer is handed: 6月10日 → ロクガツトオカ (the analyser reads the words no rule
    or dictionary entry claims). Loads the analyser on first use; off the event loop, call it in a thread."""
    return render_katakana(pieces(text, dictionary, context))


def ssml(text: str, voice: str, language: str = "ja-JP", dictionary: ReadingsDictionary = NO_DICTIONARY, context: str = "") -> str:
    """The SSML document for one sentence: rules and dictionary readings as ``<sub alias>``, the rest as text."""
    return _ssml.document(pieces(text, dictionary, context), voice, language)


def spoken_text(text: str, dictionary: ReadingsDictionary = NO_DICTIONARY, context: str = "") -> str:
    """The text with what the rules and dictionary read replaced by its reading, the rest as written
    (08:00-20:00 → ハチジカラニジュウジマデ): a spoken form for a model to read, without the analyser."""
    return "".join("、" if p.pause else (p.reading if p.reading is not None else p.text) for p in pieces(text, dictionary, context))


def read_digits(digits: str) -> str:
    return numbers.digits(digits)


def read_code(code: str) -> str:
    """R-0012 → アール ゼロ ゼロ イチ ニー."""
    return numbers.characters(code)


def read_date(day: dt.date, weekday: bool = True) -> str:
    """2026-11-28 → ジュウイチガツニジュウハチニチ ドヨウビ."""
    reading = numbers.month(day.month) + numbers.day(day.day)
    return f"{reading} {numbers.WEEKDAYS['月火水木金土日'[day.weekday()]]}" if weekday else reading


def read_time(moment: dt.time | dt.datetime) -> str:
    """18:30 → ゴゴ ロクジサンジュップン (the 12-hour form people say on the phone)."""
    half = "ゴゼン" if moment.hour < 12 else "ゴゴ"
    hour = moment.hour if moment.hour <= 12 else moment.hour - 12
    return f"{half} {numbers.hour(hour)}{numbers.minute(moment.minute)}"
