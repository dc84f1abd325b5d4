"""Phone numbers and postal codes read digit by digit in the groups Japanese numbering uses.

Grouping comes from libphonenumber's Japanese metadata (``phonenumbers``, offline): landline area codes are 1–4
digits long and no fixed 3-4-4 rule gets them right. Numbers written with separators keep the caller's grouping.
"""

from __future__ import annotations

import re

import phonenumbers

from . import numbers
from .pieces import Piece, pause

PAUSE = "pause"
_SEPARATORS = re.compile(r"[\s\-‐－―ー()（）]+")


def groups(number: str) -> list[str]:
    """090-1100-1234 for 09011001234 (mobile), 03-1234-5678, 0466-12-3456, 0120-123-456 (free dial), 050-… (IP)."""
    written = [g for g in _SEPARATORS.split(number.strip()) if g]
    if len(written) > 1:
        if written[0].startswith("+81"):
            written[0] = written[0][3:]
            written = [g for g in written if g]
            written[0] = "0" + written[0]
        return written
    digits = re.sub(r"\D", "", number)
    if digits.startswith("81") and number.lstrip().startswith("+"):
        digits = "0" + digits[2:]
    try:
        parsed = phonenumbers.parse(digits, "JP")
    except phonenumbers.NumberParseException:
        return [digits]
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    grouped = [g for g in re.split(r"\D+", national) if g]
    return grouped if "".join(grouped) == digits else [digits]


def format_number(number: str) -> str:
    """The number written the Japanese way: 090-1100-1234."""
    return "-".join(groups(number))


def separator_piece(separator: str, text: str = "-") -> Piece:
    return pause(text) if separator == PAUSE else Piece(text, "ノ" if separator in ("の", "ノ") else separator)


def phone_pieces(number: str, separator: str = PAUSE) -> list[Piece]:
    """One piece per group, read digit by digit, with the group separator (a pause or 「の」) between them."""
    out: list[Piece] = []
    for i, group in enumerate(groups(number)):
        if i:
            out.append(separator_piece(separator))
        out.append(Piece(group, numbers.digits(group)))
    return out


def read_phone(number: str, separator: str = PAUSE) -> str:
    """The reading of a phone number as one string, a pause written as 「、」: ゼロキュウゼロ、イチイチゼロゼロ、…"""
    return "".join("、" if p.pause else (p.reading or "") for p in phone_pieces(number, separator))
