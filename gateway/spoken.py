"""How numbers, dates and phone numbers are read aloud in Japanese: tools hand the model ready-to-speak forms.

Voice models misread digit strings (a phone number read as one big number, a reservation number as a word);
giving them the reading removes the guesswork. The cascade engine also applies ``speakable`` before synthesis.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

DIGITS_JA = {"0": "ゼロ", "1": "イチ", "2": "ニー", "3": "サン", "4": "ヨン", "5": "ゴー", "6": "ロク", "7": "ナナ", "8": "ハチ", "9": "キュウ"}
LETTERS_JA = {"R": "アール", "A": "エー", "B": "ビー", "C": "シー", "D": "ディー", "E": "イー"}
WEEKDAYS_JA = "月火水木金土日"
_PHONE = re.compile(r"(?<!\d)(0\d{1,4})-(\d{1,4})-(\d{3,4})(?!\d)")
_KANA_DIGITS = {"ゼロ": "0", "レイ": "0", "マル": "0", "イチ": "1", "ニー": "2", "ニ": "2", "サン": "3", "ヨン": "4", "シ": "4", "ゴー": "5", "ゴ": "5", "ロク": "6", "ナナ": "7", "シチ": "7", "ハチ": "8", "キュウ": "9", "ク": "9"}


def digits_only(text: str) -> str:
    """Phone digits from whatever the model passed: full-width digits, hyphens, spaces, or katakana readings."""
    text = unicodedata.normalize("NFKC", text)
    for kana in sorted(_KANA_DIGITS, key=len, reverse=True):
        text = text.replace(kana, _KANA_DIGITS[kana])
    return re.sub(r"\D", "", text)


def read_digits(digits: str, sep: str = "") -> str:
    return sep.join(DIGITS_JA.get(ch, ch) for ch in digits)


def read_phone(digits: str) -> str:
    """090-1234-5678 → ゼロキュウゼロ、イチニーサンヨン、ゴーロクナナハチ (groups as a Japanese operator reads them)."""
    groups = format_phone(digits).split("-")
    return "、".join(read_digits(g) for g in groups)


def format_phone(digits: str) -> str:
    if len(digits) == 11 and digits.startswith(("090", "080", "070", "050")):
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if len(digits) == 10 and digits.startswith(("03", "06")):
        return f"{digits[:2]}-{digits[2:6]}-{digits[6:]}"
    if len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return digits


def read_code(code: str) -> str:
    """R-0001 → アール、ゼロ、ゼロ、ゼロ、イチ: one symbol at a time, so it can be written down."""
    return "、".join(DIGITS_JA.get(ch) or LETTERS_JA.get(ch.upper(), ch) for ch in code if ch.isalnum())


def read_date(day: dt.date) -> str:
    return f"{day.month}月{day.day}日 {WEEKDAYS_JA[day.weekday()]}曜日"


def read_time(moment: dt.time | dt.datetime) -> str:
    hour, minute = moment.hour, moment.minute
    half = "午前" if hour < 12 else "午後"
    h12 = hour if hour <= 12 else hour - 12
    return f"{half}{h12}時" + (f"{minute}分" if minute else "")


def speakable(text: str) -> str:
    """Rewrite phone numbers in a sentence into their digit-by-digit reading before text-to-speech."""
    return _PHONE.sub(lambda m: read_phone("".join(m.groups())), text)
