"""Katakana readings of numbers as a Japanese operator says them, in the reading form (トオカ, not トーカ).

Tables rather than rules where Japanese is irregular: days of the month, months and hours each have exceptions
(ツイタチ, ハツカ, シガツ, クジ) that a general number reader gets wrong.
"""

from __future__ import annotations

DIGIT_BY_DIGIT = ("ゼロ", "イチ", "ニー", "サン", "ヨン", "ゴー", "ロク", "ナナ", "ハチ", "キュウ")
_CARDINAL_DIGIT = ("", "イチ", "ニ", "サン", "ヨン", "ゴ", "ロク", "ナナ", "ハチ", "キュウ")
_HUNDREDS = ("", "ヒャク", "ニヒャク", "サンビャク", "ヨンヒャク", "ゴヒャク", "ロッピャク", "ナナヒャク", "ハッピャク", "キュウヒャク")
_THOUSANDS = ("", "セン", "ニセン", "サンゼン", "ヨンセン", "ゴセン", "ロクセン", "ナナセン", "ハッセン", "キュウセン")
_UNITS = ((10**12, "チョウ"), (10**8, "オク"), (10**4, "マン"))
_TENS_PREFIX = ("", "ジュウ", "ニジュウ", "サンジュウ")

_DAYS = {
    1: "ツイタチ", 2: "フツカ", 3: "ミッカ", 4: "ヨッカ", 5: "イツカ", 6: "ムイカ", 7: "ナノカ", 8: "ヨウカ",
    9: "ココノカ", 10: "トオカ", 14: "ジュウヨッカ", 20: "ハツカ", 24: "ニジュウヨッカ",
}  # fmt: skip
_DAY_ONES = ("", "イチ", "ニ", "サン", "ヨッカ", "ゴ", "ロク", "シチ", "ハチ", "ク")
_MONTHS = ("", "イチ", "ニ", "サン", "シ", "ゴ", "ロク", "シチ", "ハチ", "ク", "ジュウ", "ジュウイチ", "ジュウニ")
_HOUR_ONES = ("", "イチ", "ニ", "サン", "ヨ", "ゴ", "ロク", "シチ", "ハチ", "ク")
_MINUTE_ONES = ("", "イップン", "ニフン", "サンプン", "ヨンプン", "ゴフン", "ロップン", "ナナフン", "ハップン", "キュウフン")
WEEKDAYS = {"月": "ゲツヨウビ", "火": "カヨウビ", "水": "スイヨウビ", "木": "モクヨウビ", "金": "キンヨウビ", "土": "ドヨウビ", "日": "ニチヨウビ"}
LETTERS = {
    "A": "エー", "B": "ビー", "C": "シー", "D": "ディー", "E": "イー", "F": "エフ", "G": "ジー", "H": "エイチ",
    "I": "アイ", "J": "ジェー", "K": "ケー", "L": "エル", "M": "エム", "N": "エヌ", "O": "オー", "P": "ピー",
    "Q": "キュー", "R": "アール", "S": "エス", "T": "ティー", "U": "ユー", "V": "ブイ", "W": "ダブリュー",
    "X": "エックス", "Y": "ワイ", "Z": "ゼット",
}  # fmt: skip


def digits(text: str) -> str:
    """0901 → ゼロキュウゼロイチ: one digit at a time, with the forms that cannot be misheard (ニー, ゴー, ナナ)."""
    return "".join(DIGIT_BY_DIGIT[int(ch)] for ch in text if ch.isdigit())


def characters(code: str) -> str:
    """R-2041 → アール ニー ゼロ ヨン イチ: each letter and digit separately, so it can be written down."""
    parts = [DIGIT_BY_DIGIT[int(ch)] if ch.isdigit() else LETTERS.get(ch.upper(), ch) for ch in code if ch.isalnum()]
    return " ".join(parts)


def _below_10000(n: int) -> str:
    thousands, rest = divmod(n, 1000)
    hundreds, rest = divmod(rest, 100)
    tens, ones = divmod(rest, 10)
    ten = "" if tens == 0 else ("ジュウ" if tens == 1 else _CARDINAL_DIGIT[tens] + "ジュウ")
    return _THOUSANDS[thousands] + _HUNDREDS[hundreds] + ten + _CARDINAL_DIGIT[ones]


def cardinal(n: int) -> str:
    """1234 → センニヒャクサンジュウヨン; 10000000 → イッセンマン (a quantity, not digit by digit)."""
    if n < 0:
        return "マイナス" + cardinal(-n)
    if n == 0:
        return "ゼロ"
    parts = []
    for size, name in _UNITS:
        group, n = divmod(n, size)
        if group:
            head = _below_10000(group)
            if head.startswith("セン"):
                head = "イッ" + head  # 1000万 イッセンマン
            if name == "チョウ" and head.endswith(("イチ", "ハチ", "ジュウ")):
                head = head[:-1] + "ッ"  # イッチョウ, ハッチョウ, ジュッチョウ
            parts.append(head + name)
    if n:
        parts.append(_below_10000(n))
    return "".join(parts)


def counted(n: int, counter: str) -> str:
    """A number before 円 or 年: 4 is ヨ (ヨエン, ニセンニジュウヨネン); other digits read as quantities."""
    reading = cardinal(n)
    if n % 10 == 4 and reading.endswith("ヨン"):
        reading = reading[:-1]
    return reading + counter


def day(n: int) -> str:
    """Day of the month, 1–31: ツイタチ, フツカ … トオカ, ジュウヨッカ, ハツカ, ニジュウヨッカ, ジュウシチニチ, ジュウクニチ."""
    if not 1 <= n <= 31:
        raise ValueError(f"no day {n} in a month")
    if n in _DAYS:
        return _DAYS[n]
    tens, ones = divmod(n, 10)
    if ones == 0:
        return _TENS_PREFIX[tens] + "ニチ"
    return _TENS_PREFIX[tens] + _DAY_ONES[ones] + "ニチ"


def days(n: int) -> str:
    """A number of days (日間): イチニチカン, フツカカン, ハツカカン."""
    return ("イチニチ" if n == 1 else day(n)) + "カン"


def month(n: int) -> str:
    """1–12: シガツ, シチガツ, クガツ."""
    if not 1 <= n <= 12:
        raise ValueError(f"no month {n}")
    return _MONTHS[n] + "ガツ"


def hour(n: int) -> str:
    """0–23 on a 24-hour clock: レイジ, ヨジ, シチジ, クジ, ジュウヨジ."""
    if not 0 <= n <= 23:
        raise ValueError(f"no hour {n}")
    if n == 0:
        return "レイジ"
    tens, ones = divmod(n, 10)
    return _TENS_PREFIX[tens] + _HOUR_ONES[ones] + "ジ"


def minute(n: int) -> str:
    """0–59 minutes: イップン, サンプン, ジュップン, ニジュウゴフン ("" for 0: 9:00 is just クジ)."""
    if not 0 <= n <= 59:
        raise ValueError(f"no minute {n}")
    tens, ones = divmod(n, 10)
    if ones == 0:
        return "" if tens == 0 else ("" if tens == 1 else _CARDINAL_DIGIT[tens]) + "ジュップン"
    return ("" if tens == 0 else ("ジュウ" if tens == 1 else _CARDINAL_DIGIT[tens] + "ジュウ")) + _MINUTE_ONES[ones]


def year(n: int) -> str:
    return counted(n, "ネン")


def yen(n: int) -> str:
    return counted(n, "エン")
