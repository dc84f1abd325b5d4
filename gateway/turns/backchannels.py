"""Backchannels (aizuchi) recognised by content: a transcript made only of known listener tokens.

Never counted by spaces or characters (Japanese has no spaces; 「はい。」 is one token, not three "words"): the text is
normalised (width, punctuation, long-vowel marks, repeats) and then consumed by the longest known token at each
position; anything left over makes it a real turn (「はい、お願いします」 is not a backchannel).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

BACKCHANNELS: dict[str, tuple[str, ...]] = {
    "ja": (
        "はい", "ええ", "うん", "ん", "へー", "へえ", "ほー", "ほう", "なるほど", "そうですね", "そうなんですね",
        "そうですか", "そうなんですか", "そうか", "そう", "はあ", "あー", "ああ", "おー", "了解", "了解です",
        "わかりました", "かしこまりました", "確かに", "ですね", "ね", "ふーん", "ふむ",
    ),
    "en": ("yeah", "yes", "uh-huh", "uh huh", "mhm", "mm", "hmm", "right", "ok", "okay", "i see", "sure", "got it"),
}
_STRIP = re.compile(r"[\s、。，．,.!?！？…・「」『』()（）~〜ー-]+")


def _normal(text: str) -> str:
    return _STRIP.sub("", unicodedata.normalize("NFKC", text).lower())


class BackchannelLexicon:
    """The built-in list for a language plus a profile's own words; ``matches`` decides by content alone."""

    def __init__(self, language: str, extra: Iterable[str] = ()) -> None:
        base = BACKCHANNELS.get(language.split("-")[0].lower(), ())
        words = {_normal(w) for w in (*base, *BACKCHANNELS["en"], *extra)}
        self._tokens = sorted((w for w in words if w), key=len, reverse=True)

    def matches(self, text: str) -> bool:
        """True when the whole transcript is backchannel tokens (repeated or mixed: 「うんうん」「はいはい、なるほど」)."""
        rest = _normal(text)
        if not rest:
            return False  # nothing transcribed: the length rule decides, not the content
        while rest:
            token = next((t for t in self._tokens if rest.startswith(t)), None)
            if token is None:
                return False
            rest = rest[len(token) :]
        return True
