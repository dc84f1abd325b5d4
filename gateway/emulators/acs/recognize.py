"""DTMF recognition with a prompt (``…:recognize``, input type ``dtmf``): the prompt plays, then the callee keys
tones (``RecognizeCompleted`` with ``dtmfResult``) or nothing until the initial silence timeout (``RecognizeFailed``,
subCode 8510), as ACS reports them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

TONE_WORDS = {
    "0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
    "8": "eight", "9": "nine", "*": "asterisk", "#": "pound",
}
INITIAL_SILENCE_SUBCODE = 8510

Emit = Callable[..., Any]


async def recognize_dtmf(emit: Emit, prompt_s: float, tones: str | None, silence_timeout_s: float, context: str | None) -> None:
    await asyncio.sleep(prompt_s)
    if tones:
        await asyncio.sleep(0.1 * len(tones))
        result = {"tones": [TONE_WORDS[t] for t in tones if t in TONE_WORDS]}
        emit("RecognizeCompleted", context, recognitionType="dtmf", dtmfResult=result)
        return
    await asyncio.sleep(silence_timeout_s)
    message = "Action failed, initial silence timeout reached."
    emit("RecognizeFailed", context, result={"code": 400, "subCode": INITIAL_SILENCE_SUBCODE, "message": message})


def silence_timeout_s(body: dict[str, Any]) -> float | None:
    """The initial silence timeout of a DTMF recognize body; ``None`` when it is not a DTMF recognition."""
    if body.get("recognizeInputType") != "dtmf":
        return None
    options = body.get("recognizeOptions") or {}
    return float(options.get("initialSilenceTimeoutInSeconds") or 5)
