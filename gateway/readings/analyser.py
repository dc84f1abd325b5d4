"""The morphological analyser (Open JTalk via pyopenjtalk-plus, dictionary bundled): readings of ordinary words.

Loaded once per process on first use: importing it and the first analysis cost about 0.2 s, so it must never be
first called on an event loop (wrap it in ``asyncio.to_thread`` there). Only the CLI needs it today: SSML for the
voice leaves ordinary words to the voice itself, and tools' spoken forms come from the rules' tables.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from typing import Any

_LONG_VOWELS = re.compile("[ーウオイ]")  # トウ and トー, トオ and トー: the same sound, spelled two ways


@functools.cache
def _frontend() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints an ONNX Runtime notice we do not need
        import pyopenjtalk

        pyopenjtalk.run_frontend("準備")  # the dictionary loads on the first call
    return pyopenjtalk.run_frontend


def _word_reading(word: dict[str, Any]) -> str:
    """``read`` is the dictionary's reading form (十日 トオカ, 東京 トウキョウ), but Open JTalk applies the sound changes
    of numbers and counters (4時 ヨジ, 1分 イップン, 3本 サンボン) only to ``pron``, in the pronunciation spelling
    (トーカ). So: ``read``, except for a number or counter whose ``pron`` says more than a spelling difference."""
    read, pron = word["read"], word["pron"].replace("’", "")
    if read in ("", "*"):
        return word["string"]
    counting = word["pos_group1"] == "数" or word["pos_group2"] == "助数詞"
    if counting and _LONG_VOWELS.sub("", read) != _LONG_VOWELS.sub("", pron):
        return pron
    return read


def katakana(text: str) -> str:
    """The reading form per word: 十日 → トオカ (not トーカ), 4時間 → ヨジカン."""
    if not text.strip():
        return ""
    return "".join(_word_reading(w) for w in _frontend()(text))
