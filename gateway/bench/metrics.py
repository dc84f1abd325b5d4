"""From frame logs to figures: match each marked frame sent with its arrival, per direction and time window.

A frame is identified by (stream, sequence) from its marker. Latency is arrival minus departure, both
``time.monotonic()`` in different processes. A frame sent inside the window that never arrived (by the time the
logs were read) is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True, frozen=True)
class FrameLogArrays:
    stream: np.ndarray
    seq: np.ndarray
    time: np.ndarray

    def keys(self) -> np.ndarray:
        return (self.stream.astype(np.uint64) << np.uint64(32)) | self.seq.astype(np.uint64)


@dataclass(slots=True, frozen=True)
class Latency:
    """One direction within one window."""

    frames: int
    lost: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.frames if self.frames else 0.0


def percentiles_ms(seconds: np.ndarray) -> tuple[float, float, float, float]:
    if seconds.size == 0:
        return (float("nan"),) * 4  # type: ignore[return-value]
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99]) * 1000
    return round(float(p50), 2), round(float(p95), 2), round(float(p99), 2), round(float(seconds.max() * 1000), 2)


def latency(sent: FrameLogArrays, received: FrameLogArrays, since: float, until: float) -> Latency:
    """Frames sent in [since, until], matched with their arrivals."""
    window = (sent.time >= since) & (sent.time <= until)
    keys = sent.keys()[window]
    times = sent.time[window]
    if keys.size == 0:
        return Latency(0, 0, *percentiles_ms(np.zeros(0)))
    rx_keys = received.keys()
    order = np.argsort(rx_keys, kind="stable")
    rx_sorted = rx_keys[order]
    pos = np.searchsorted(rx_sorted, keys)
    pos_clipped = np.minimum(pos, max(rx_sorted.size - 1, 0))
    found = (pos < rx_sorted.size) & (rx_sorted[pos_clipped] == keys) if rx_sorted.size else np.zeros(keys.size, bool)
    arrived = received.time[order][pos_clipped[found]] if rx_sorted.size else np.zeros(0)
    delays = arrived - times[found]
    return Latency(int(keys.size), int(keys.size - found.sum()), *percentiles_ms(delays))


def lateness_ms(lateness_s: np.ndarray) -> dict[str, float]:
    """How late the load generator itself sent its frames: evidence that it was not the bottleneck."""
    p50, _, p99, worst = percentiles_ms(lateness_s)
    return {"p50_ms": p50, "p99_ms": p99, "max_ms": worst}
