"""The morphological analyser (Open JTalk via pyopenjtalk-plus, dictionary bundled): readings of ordinary words.

Loaded once per process on first use: importing it costs about 0.2 s and the first analysis about 40 ms, so callers
on an event loop use ``katakana_async`` (a worker thread). Only the CLI and ``*_spoken`` forms need it; SSML for
the voice leaves ordinary words to the voice itself.
"""

from __future__ import annotations

import asyncio
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
    """The reading form per word (``read``: 十日 → トウカ), not the pronunciation (``pron``: トーカ)."""
    if not text.strip():
        return ""
    words = _frontend()(text)
    return "".join(w["read"] if w["read"] not in ("", "*") else w["string"] for w in words)


async def katakana_async(text: str) -> str:
    return await asyncio.to_thread(katakana, text)
