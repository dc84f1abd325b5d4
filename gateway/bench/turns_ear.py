"""What one benchmark call's caller heard, judged the same way on every carrier.

A carrier's line (``turns_acs``, ``turns_twilio``, ``turns_browser``) reports when the caller's voice began, a
``playing(t)`` view of its ear's playout clock (ACS: the emulator's phone playout cut by ``StopAudio``; Twilio: the
emulator's 20 ms playout of the media it buffered, cut by ``clear``; browser: the page's player cut by ``clear``), how
much of the agent's reply the ear played, and what the provider saw. The figures follow from those alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SILENT_HOLD_S = 0.2  # the agent counts as silent at the ear once nothing plays for this long (not a jitter gap)
PAUSE_GAP_S = 0.1  # a silence this long inside a reply at the ear is a pause, not frame jitter
MISSED_AFTER_S = 1.5  # an interruption is missed if the agent still plays this long after the caller began
STEP_S = 0.005
SEARCH_S = 2  # how far from where they parted the heard audio is looked for in the reply
MAX_FOREIGN_MS = 40  # audio at the ear that is not the reply's (a padded last frame) before the comparison gives up
LOOK_S = 4.0


@dataclass(frozen=True, slots=True)
class Observation:
    """One call of a batch; ``case`` None is the batch's control call (nobody speaks over the reply)."""

    case_index: int | None
    onset: float | None  # monotonic time the caller's voice began over the reply
    reply_start: float | None  # first agent audio of the reply at the ear
    silent_at: float | None  # first moment after the onset from which the ear stayed silent SILENT_HOLD_S
    playing_after_1500: bool | None  # the agent still audible MISSED_AFTER_S after the onset
    stops: int  # StopAudio / clear after the onset
    paused: bool  # the ear fell silent after the onset and the reply went on (a pause and a resume)
    heard_samples: int  # agent audio the ear played from the reply on, in the ear's samples
    rate: int  # the ear's sample rate
    heard: bytes  # that audio itself, as the ear received it (PCM16, or μ-law on Twilio)
    width: int  # bytes per sample of ``heard``
    reply: bytes | None  # the reply's audio as its source made it for this call (None: compare with the control's)
    cancelled: bool | None  # the provider's reply was cancelled or truncated (or the page heard it cut short)
    turn: bool | None  # the overlapped speech reached the provider as a caller turn
    answered: bool | None  # the provider answered it


Intervals = list[tuple[float, float]]  # (start, end) monotonic seconds of agent audio playing at the ear


def playing_in(intervals: Intervals) -> Callable[[float], bool]:
    return lambda t: any(start <= t < end for start, end in intervals)


def observe(
    index: int, onset_ms: float | None, start0: float | None, start1: float | None, intervals: Intervals,
    stop_times: list[float], rate: int, provider: tuple[bool | None, bool | None, bool | None],
    heard: bytes = b"", width: int = 2, reply: bytes | None = None,
) -> Observation:  # fmt: skip
    """One call from its ear: ``start0``/``start1`` when the caller's greeting reply and its corpus utterance began
    (``onset_ms`` into it the voice starts); ``provider`` is (cancelled, turn, answered) as the provider saw it."""
    onset = None if onset_ms is None or start1 is None else start1 + onset_ms / 1000
    silent_at, still = ear_figures(playing_in(intervals), onset)
    spans = [(s, e) for s, e in intervals if start0 is not None and e > start0]
    heard_s = sum(e - max(s, start0) for s, e in spans) if start0 is not None else 0.0
    cancelled, turn, answered = provider
    return Observation(
        case_index=index,
        onset=onset,
        reply_start=spans[0][0] if spans else None,
        silent_at=silent_at,
        playing_after_1500=still,
        stops=sum(1 for t in stop_times if onset is not None and t > onset),
        paused=onset is not None and paused_after(spans, onset),
        heard_samples=round(heard_s * rate),
        rate=rate,
        heard=heard,
        width=width,
        reply=reply,
        cancelled=cancelled,
        turn=turn,
        answered=answered,
    )


def paused_after(intervals: Intervals, onset: float) -> bool:
    """Whether agent audio stopped for ``PAUSE_GAP_S`` after ``onset`` and then played on (a pause, resumed)."""
    spans = sorted(intervals)
    return any(b[0] - a[1] >= PAUSE_GAP_S and a[1] > onset for a, b in zip(spans, spans[1:], strict=False))


def silent_from(playing: Callable[[float], bool], onset: float) -> float | None:
    """The first t >= onset from which ``playing`` stays false for ``SILENT_HOLD_S``."""
    t, quiet_since = onset, None
    while t <= onset + LOOK_S:
        if playing(t):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = t
        elif t - quiet_since >= SILENT_HOLD_S:
            return quiet_since
        t += STEP_S
    return None


def ear_figures(playing: Callable[[float], bool], onset: float | None) -> tuple[float | None, bool | None]:
    if onset is None:
        return None, None
    return silent_from(playing, onset), playing(onset + MISSED_AFTER_S)


def splice_errors(heard: bytes, reference: bytes, width: int, rate: int) -> tuple[int, int, int] | None:
    """(lost, repeated, foreign): samples of ``reference`` the ear skipped, samples it played twice, and samples it
    played that are not the reply's (padding), found by walking ``heard`` along ``reference`` and, wherever they
    part (a pause resumed at the wrong sample), finding where the heard audio picks up again in the reference.
    None when more than ``MAX_FOREIGN_MS`` of the heard audio is not the reference's samples (another reply, or
    audio altered on the way): then nothing can be said to the sample."""
    a = np.frombuffer(heard, dtype=np.uint8)
    b = np.frombuffer(reference, dtype=np.uint8)
    window = max(width, rate * width // 50)  # 20 ms: unique in speech
    i = j = lost = repeated = foreign = 0
    max_foreign = rate * MAX_FOREIGN_MS // 1000
    while i < len(a):
        n = min(len(a) - i, len(b) - j)
        differ = np.flatnonzero(a[i : i + n] != b[j : j + n])
        run = int(differ[0]) // width * width if len(differ) else n
        i, j = i + run, j + run
        if i >= len(a):
            break
        if j >= len(b):
            repeated += (len(a) - i) // width
            break
        reach = SEARCH_S * rate * width
        k = _nearest(heard, reference, i, j, window, width, reach)
        if k is None and foreign == 0 and _nearest(heard, reference, i + max_foreign * width, j, window, width, reach) is None:
            return None  # not a few foreign samples: not the reply's audio at all (answered cheaply)
        if k is None:
            foreign += 1
            if foreign > max_foreign:
                return None
            i += width
            continue
        lost, repeated = lost + max(0, k - j) // width, repeated + max(0, j - k) // width
        j = k
    return lost + (len(b) - j) // width, repeated, foreign


def _nearest(heard: bytes, reference: bytes, i: int, j: int, window: int, width: int, reach: int) -> int | None:
    """Where in ``reference``, within ``reach`` bytes of ``j`` (a resume is never seconds away from its pause) and on
    a sample boundary, the heard audio from ``i`` continues; a stretch of silence is widened until it holds sound, so
    it cannot match just any quiet moment."""
    end = i + window
    while end < len(heard) and len(set(heard[i:end])) <= 2:
        end += window
    probe = heard[i:end]
    low, high = max(0, j - reach), j + reach + len(probe)
    best = None
    start = reference.find(probe, low, high)
    while start != -1:
        if start % width == 0 and (best is None or abs(start - j) < abs(best - j)):
            best = start
        start = reference.find(probe, start + 1, high)
    return best

