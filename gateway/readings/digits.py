"""Spoken numbers understood by code: what a caller said, as transcribed, turned into digits.

Transcripts mix forms: kana (ぜろきゅうぜろ), kanji numerals (千二百三十四), full-width digits, fillers (えーと,
あの) and 「の」 between groups. Without a place word (十, 百, 千, 万) a run is digit by digit (いちにーさんよん →
1234); with one it is a quantity (千二百三十四 → 1234).
"""

from __future__ import annotations

import re
import unicodedata

_KANA_NUMERALS = {
    "ぜろ": "0", "れい": "0", "まる": "0", "ゼロ": "0", "〇": "0", "零": "0",
    "いち": "1", "いっ": "1", "一": "1", "壱": "1",
    "にい": "2", "にー": "2", "に": "2", "二": "2", "弐": "2",
    "さん": "3", "三": "3", "参": "3",
    "よん": "4", "よ": "4", "し": "4", "四": "4",
    "ごお": "5", "ごー": "5", "ご": "5", "五": "5",
    "ろく": "6", "ろっ": "6", "六": "6",
    "なな": "7", "しち": "7", "七": "7",
    "はち": "8", "はっ": "8", "八": "8",
    "きゅう": "9", "きゅー": "9", "きゅ": "9", "く": "9", "九": "9",
    "じゅう": "十", "じゅっ": "十", "じっ": "十", "じゅー": "十", "十": "十",
    "ひゃく": "百", "びゃく": "百", "ぴゃく": "百", "百": "百",
    "せん": "千", "ぜん": "千", "千": "千",
    "まん": "万", "万": "万", "おく": "億", "億": "億",
}  # fmt: skip
_SMALL_PLACES = {"十": 10, "百": 100, "千": 1000}
_LARGE_PLACES = {"万": 10**4, "億": 10**8, "兆": 10**12}
_FILLERS = ("えーっと", "えーと", "えっと", "ええと", "えと", "あのー", "あの", "えー", "ええ", "その", "まあ", "うーん", "んー")
_KEYS = sorted(_KANA_NUMERALS, key=len, reverse=True)
_IGNORED = re.compile(r"[\sの、。,.\-‐－ー―・()（）番です]")


def to_hiragana(text: str) -> str:
    """NFKC (full width → ASCII, half-width kana → full) and katakana → hiragana, for comparing what was said."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in text)


def normalize_name(name: str) -> str:
    """A name compared without regard to kana type, width, spaces or dots: ヤマダ タロウ == やまだたろう."""
    return re.sub(r"[\s・.,、。]", "", to_hiragana(name)).lower()


def _tokens(text: str) -> list[str]:
    """Digits ('0'–'9') and place words ('十' … '兆'); anything else ends a number run (as ``' '``)."""
    text = to_hiragana(text)
    for filler in _FILLERS:
        text = text.replace(filler, " ")
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() and ch.isascii():
            out.append(ch)
            i += 1
            continue
        if ch in "兆":
            out.append(ch)
            i += 1
            continue
        for key in _KEYS:
            if text.startswith(key, i):
                out.append(_KANA_NUMERALS[key])
                i += len(key)
                break
        else:
            if not _IGNORED.match(ch):
                out.append(" ")
            i += 1
    return out


def _value(tokens: list[str]) -> int:
    total = section = current = 0
    for token in tokens:
        if token.isdigit():
            current = current * 10 + int(token)
        elif token in _SMALL_PLACES:
            section += (current or 1) * _SMALL_PLACES[token]
            current = 0
        else:
            total += ((section + current) or 1) * _LARGE_PLACES[token]
            section = current = 0
    return total + section + current


def _run_digits(tokens: list[str]) -> str:
    if any(not t.isdigit() for t in tokens):
        return str(_value(tokens))
    return "".join(tokens)


def spoken_digits(text: str) -> str:
    """ぜろきゅうぜろのいちにーさんよん → 0901234; 千二百三十四 → 1234; ０９０ー１２３４ → 0901234.

    Every number run in the text is converted and the results are joined, so groups said one by one
    (「090の」「1234の」…) add up to the whole number.
    """
    out: list[str] = []
    run: list[str] = []
    tokens = _tokens(text)
    in_words = " " in tokens  # then a lone place word is a syllable of a word (わかりません), not 千
    for token in [*tokens, " "]:
        if token == " ":
            if run and not (in_words and not any(t.isdigit() for t in run)):
                out.append(_run_digits(run))
            run = []
        else:
            run.append(token)
    return "".join(out)


def number_value(written: str) -> int | None:
    """The value of a written number: 1,234 → 1234; 12万5千 → 125000; 二十 → 20 (``None`` if it is not one)."""
    tokens = [t for t in _tokens(written.replace(",", "")) if t != " "]
    if not tokens or any(t == " " for t in _tokens(written.replace(",", ""))):
        return None
    return _value(tokens)
