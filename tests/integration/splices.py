"""Sample accounting of a paused-and-resumed reply: what the caller heard, compared with what the provider sent.

A pause cuts the heard audio at some sample of the reply; the resume continues from some sample. If the two are the
same sample, the caller heard the reply whole. ``splices`` finds every such seam by exact byte comparison (the
audio must reach the ear bit-exact: ACS at 24 kHz and Twilio with μ-law passthrough do) and says, per seam, how many
samples were skipped (lost) or played twice (repeated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE = 480  # bytes of heard audio that must be found in the reply to place a resume (longer than a silence run)


@dataclass(frozen=True, slots=True)
class Seam:
    at: int  # sample of the reply where the heard audio left it
    resumed_at: int  # sample of the reply where the heard audio picked it up again

    @property
    def lost(self) -> int:
        return max(0, self.resumed_at - self.at)

    @property
    def repeated(self) -> int:
        return max(0, self.at - self.resumed_at)


@dataclass(frozen=True, slots=True)
class Accounting:
    seams: tuple[Seam, ...]
    heard_to: int  # sample of the reply where the heard audio ends
    reply_samples: int
    unmatched: int  # heard samples found nowhere in the reply (must be 0)

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.seams) + (self.reply_samples - self.heard_to)

    @property
    def repeated(self) -> int:
        return sum(s.repeated for s in self.seams)


def _common(a: bytes, a_from: int, b: bytes, b_from: int, width: int) -> int:
    """Length in bytes (whole samples) of the common run of ``a[a_from:]`` and ``b[b_from:]``."""
    n = min(len(a) - a_from, len(b) - b_from)
    lo, hi = 0, n  # binary search on equal prefixes: fast on long runs of audio
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[a_from : a_from + mid] == b[b_from : b_from + mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo - lo % width


def _nearest(reply: bytes, probe: bytes, near: int, width: int, window: int = 48_000) -> int:
    """Where ``probe`` occurs in ``reply`` (sample-aligned) closest to ``near``, within ``window`` bytes; -1 if not."""
    lo = max(0, near - window)
    best = -1
    start = reply.find(probe, lo, near + window + len(probe))
    while start != -1:
        if start % width == 0 and (best < 0 or abs(start - near) < abs(best - near)):
            best = start
        start = reply.find(probe, start + 1, near + window + len(probe))
    return best


def splices(heard: bytes, reply: bytes, width: int = 2, tail_padding: int = 0) -> Accounting:
    """Walk the heard audio through the reply; ``tail_padding``: bytes of filler the sink may add after the reply's
    last sample (a partial carrier frame padded with silence), ignored at the very end."""
    seams: list[Seam] = []
    h = r = unmatched = 0
    while h < len(heard):
        run = _common(heard, h, reply, r, width)
        h += run
        r += run
        if h >= len(heard):
            break
        if r >= len(reply) and len(heard) - h <= tail_padding:
            break  # the padded end of the last frame
        found = _nearest(reply, heard[h : h + PROBE], r, width)
        if found < 0:
            unmatched += width
            h += width
            continue
        seams.append(Seam(r // width, found // width))
        r = found
    return Accounting(tuple(seams), r // width, len(reply) // width, unmatched // width)


def window_lags(heard: np.ndarray, expected: np.ndarray, window: int, search: int) -> list[int]:
    """For audio that went through a resampler (not bit-exact): per ``window`` samples of ``heard``, the shift (in
    samples, within ±``search``) that best aligns it with ``expected``; all zeros means nothing lost or repeated.
    Windows too quiet to place are skipped."""
    lags: list[int] = []
    for start in range(search, min(len(heard), len(expected)) - window - search, window):
        part = heard[start : start + window]
        if np.sqrt(np.mean(part * part)) < 200:
            continue
        scores = [float(np.dot(part, expected[start + k : start + k + window])) for k in range(-search, search + 1)]
        lags.append(int(np.argmax(scores)) - search)
    return lags
