"""What an analyser does not know: phone numbers, postal codes, reservation codes, dates, times, ranges, amounts.

Each rule is a pattern and a reader; rules run in order over the text not yet claimed by an earlier rule, so a
phone number is never re-read as an amount. A reader returns ``None`` when the match is not what it looks like
(13/45 is no date), and the text is left to the next rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import numbers
from .digits import number_value
from .phone import phone_pieces, separator_piece
from .pieces import Piece

Reader = Callable[[re.Match[str], str], list[Piece] | None]

_WEEKDAY = r"(?:\s?\(([月火水木金土日])(?:曜日?)?\))?"
_SLASH_DATE = r"(?<![\d/.])(?:(\d{4})/)?(\d{1,2})/(\d{1,2})(?![\d/.])"
_KANJI_DATE = r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日(?!間)"
_CLOCK = r"(?<![\d:])(\d{1,2}):(\d{2})(?![\d:])"
_KANJI_TIME = r"(\d{1,2})時(?!間)(?:(\d{1,2})分|(半))?"  # 2時間 is a duration: left to the voice
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_AMOUNT_NUMBER = rf"{_NUMBER}(?:[兆億万千]{_NUMBER}?)*"
_RANGE_SIDE = rf"(?:{_SLASH_DATE}{_WEEKDAY}|{_KANJI_DATE}{_WEEKDAY}|{_CLOCK}|{_KANJI_TIME})"
_UNTIL = ("まで", "迄", "マデ")


def _weekday(char: str | None) -> str:
    return numbers.WEEKDAYS[char] if char else ""


def _date(year: str | None, month: str, day: str, weekday: str | None) -> str | None:
    m, d = int(month), int(day)
    if not (1 <= m <= 12 and 1 <= d <= 31):
        return None
    head = numbers.year(int(year)) if year else ""
    return head + numbers.month(m) + numbers.day(d) + _weekday(weekday)


def _clock(hour: str, minute: str) -> str | None:
    h, m = int(hour), int(minute)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return numbers.hour(h) + numbers.minute(m)


def _kanji_time(hour: str, minute: str | None, half: str | None) -> str | None:
    h = int(hour)
    if not 0 <= h <= 23 or (minute and not 0 <= int(minute) <= 59):
        return None
    return numbers.hour(h) + (numbers.minute(int(minute)) if minute else "") + ("ハン" if half else "")


def _moment(text: str) -> str | None:
    """The reading of one side of a range: a date or a time."""
    if m := re.fullmatch(_SLASH_DATE + _WEEKDAY, text):
        return _date(*m.groups())
    if m := re.fullmatch(_KANJI_DATE + _WEEKDAY, text):
        return _date(*m.groups())
    if m := re.fullmatch(_CLOCK, text):
        return _clock(*m.groups())
    if m := re.fullmatch(_KANJI_TIME, text):
        return _kanji_time(*m.groups())
    return None


def _one(reading: str | None, match: re.Match[str]) -> list[Piece] | None:
    return None if reading is None else [Piece(match.group(0), reading)]


def read_postal(match: re.Match[str], separator: str) -> list[Piece]:
    mark, first, second = match.group(1), match.group(2), match.group(3)
    pieces = [Piece(mark, "ユウビンバンゴウ")] if mark == "〒" else [Piece(mark)]
    return [*pieces, Piece(first, numbers.digits(first)), separator_piece(separator), Piece(second, numbers.digits(second))]


def read_phone(match: re.Match[str], separator: str) -> list[Piece]:
    return phone_pieces(match.group(0), separator)


def read_code(match: re.Match[str], separator: str) -> list[Piece]:
    return [Piece(match.group(0), numbers.characters(match.group(0)))]


def read_range(match: re.Match[str], separator: str) -> list[Piece] | None:
    first, second = match.group("first"), match.group("second")
    a, b = _moment(first), _moment(second)
    if a is None or b is None:
        return None
    until = "" if match.string[match.end() :].startswith(_UNTIL) else "マデ"
    return [Piece(match.group(0), f"{a}カラ{b}{until}")]


def read_date(match: re.Match[str], separator: str) -> list[Piece] | None:
    return _one(_date(*match.groups()), match)


def read_clock(match: re.Match[str], separator: str) -> list[Piece] | None:
    return _one(_clock(*match.groups()), match)


def read_kanji_time(match: re.Match[str], separator: str) -> list[Piece] | None:
    return _one(_kanji_time(*match.groups()), match)


def read_amount(match: re.Match[str], separator: str) -> list[Piece] | None:
    """¥1,200 and 1,200円 → センニヒャクエン (4 円 is ヨエン); 3万 → サンマン; other numbers go to the analyser."""
    written, is_yen = match.group("number"), bool(match.group("mark") or match.group("yen"))
    value = number_value(written)
    if value is None or not (is_yen or re.search(r"[兆億万]", written)):
        return None
    return [Piece(match.group(0), numbers.yen(value) if is_yen else numbers.cardinal(value))]


def read_month(match: re.Match[str], separator: str) -> list[Piece] | None:
    return _one(numbers.month(int(match.group(1))) if 1 <= int(match.group(1)) <= 12 else None, match)


def read_day(match: re.Match[str], separator: str) -> list[Piece] | None:
    n, span = number_value(match.group(1)) or 0, match.group(2)
    if span:
        return _one(numbers.days(n), match) if 1 <= n <= 31 else None
    if n == 1 or not 2 <= n <= 31:
        return None  # a lone 1日 is as often イチニチ (one day) as ツイタチ: the voice decides
    return _one(numbers.day(n), match)


_PHONE = r"(?<![0-9A-Za-z-])(?:\+81[\s-]?\d{1,4}|0\d{1,4})(?:[\s-]\d{1,4}[\s-]|\(\d{1,4}\))\d{3,4}(?![\d-])|(?<!\d)0\d{9,10}(?!\d)"

RULES: tuple[tuple[re.Pattern[str], Reader], ...] = (
    (re.compile(r"(〒|郵便番号は?)\s?(\d{3})-(\d{4})(?!\d)"), read_postal),
    (re.compile(_PHONE), read_phone),
    (re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]{1,3}-\d{2,}|[A-Z]{1,2}\d{4,})(?![A-Za-z0-9])"), read_code),
    (re.compile(rf"(?P<first>{_RANGE_SIDE})\s?[〜~\-–]\s?(?P<second>{_RANGE_SIDE})"), read_range),
    (re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)" + _WEEKDAY), read_date),
    (re.compile(_SLASH_DATE + _WEEKDAY), read_date),
    (re.compile(_KANJI_DATE + _WEEKDAY), read_date),
    (re.compile(_CLOCK), read_clock),
    (re.compile(r"(?<!\d)" + _KANJI_TIME), read_kanji_time),
    (re.compile(rf"(?:(?P<mark>[¥￥])\s?)?(?<![\d,.])(?P<number>{_AMOUNT_NUMBER})(?P<yen>円)?"), read_amount),
    (re.compile(r"(?<![\d,])(\d{1,2})月(?!\d)"), read_month),
    (re.compile(r"(?<![\d,一二三四五六七八九十〇])(\d{1,2}|[一二三四五六七八九十]{1,3})日(?!月)(間)?"), read_day),
)
