"""The morphological analyser (Open JTalk via pyopenjtalk-plus, dictionary bundled): readings of ordinary words.

Loaded once per process on first use: importing it and the first analysis cost about 0.2 s, so it must never be
first called on an event loop (wrap it in ``asyncio.to_thread`` there). Only the CLI needs it today: SSML for the
voice leaves ordinary words to the voice itself, and tools' spoken forms come from the rules' tables.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any


@functools.cache
def _frontend() -> Any:
    with contextlib.redirect_stdout(io.StringIO()):  # it prints an ONNX Runtime notice we do not need
        import pyopenjtalk

        pyopenjtalk.run_frontend("準備")  # the dictionary loads on the first call
    return pyopenjtalk.run_frontend


def katakana(text: str) -> str:
    """The reading form per word (``read``: 京都 → キョウト), not the pronunciation (``pron``: キョート)."""
    if not text.strip():
        return ""
    words = _frontend()(text)
    return "".join(w["read"] if w["read"] not in ("", "*") else w["string"] for w in words)
