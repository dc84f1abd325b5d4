"""What the emulated services "hear": they know the caller recordings shipped with them and recognise them again.

A real speech service would transcribe any audio; an emulator cannot, but the demo's callers (the console's demo
line, ``simulate-call``'s sample, the fixtures tests speak) are known recordings. Their loudness envelope survives
resampling, Opus and μ-law, so a segment whose envelope matches a known clip's is given that clip's words. Anything
else is reported honestly as speech the emulator cannot understand.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from gateway.audio import read_wav

CALLERS_DIR = Path(__file__).resolve().parent / "data" / "callers"
FRAME_MS = 20
POINTS = 96  # envelopes are compared at this many points, after smoothing
MIN_CORRELATION = 0.82
SILENCE_DB = 32.0  # frames this far below the loudest one are silence (trimmed at both ends)


def envelope(pcm: bytes, rate: int) -> np.ndarray:
    """Log energy per 20 ms frame, trimmed of the quiet frames at both ends."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    n = rate * FRAME_MS // 1000
    frames = samples[: len(samples) // n * n].reshape(-1, n) if len(samples) >= n else np.zeros((0, n))
    if not len(frames):
        return np.zeros(0)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1.0)
    loud = np.flatnonzero(db > db.max() - SILENCE_DB)
    return db[loud[0] : loud[-1] + 1]


def _resampled(env: np.ndarray) -> np.ndarray:
    smooth = np.convolve(env, np.ones(5) / 5, mode="same")  # 100 ms: codecs and resamplers blur single frames
    return np.interp(np.linspace(0, len(env) - 1, POINTS), np.arange(len(env)), smooth)


@functools.lru_cache(maxsize=1)
def known_clips() -> tuple[tuple[str, np.ndarray], ...]:
    index = json.loads((CALLERS_DIR / "index.json").read_text(encoding="utf-8"))
    clips = []
    for name, text in index.items():
        chunk = read_wav(CALLERS_DIR / name)
        clips.append((text, envelope(chunk.pcm, chunk.rate)))
    return tuple(clips)


def recognize(pcm: bytes, rate: int) -> str | None:
    """The words of the known recording this audio is, or ``None``."""
    env = envelope(pcm, rate)
    if len(env) < 5:
        return None
    best, best_score = None, MIN_CORRELATION
    for text, clip in known_clips():
        if not 0.75 < len(env) / len(clip) < 1.33:
            continue
        score = float(np.corrcoef(_resampled(env), _resampled(clip))[0, 1])
        if score > best_score:
            best, best_score = text, score
    return best


def heard(pcm: bytes, rate: int) -> str:
    """What the emulator writes in the transcript for this caller audio."""
    text = recognize(pcm, rate)
    if text is not None:
        return text
    seconds = len(pcm) / 2 / rate
    return f"（聞き取れない発話 {seconds:.1f}秒: エミュレーターは収録済みの音声だけを認識します）"
