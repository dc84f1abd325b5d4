"""The Realtime end of the latency probe: it reads the marker of every caller frame that reaches the emulator and
stamps one into every agent frame it sends, noting the time of each (``time.monotonic()`` is system-wide on
Linux, so these times compare with the load generator's across processes)."""

from __future__ import annotations

import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import marker


@dataclass(slots=True)
class FrameLog:
    """(stream, seq, time) of frames, kept as flat arrays so recording one costs three appends."""

    stream: array[int] = field(default_factory=lambda: array("I"))
    seq: array[int] = field(default_factory=lambda: array("I"))
    time: array[float] = field(default_factory=lambda: array("d"))

    def add(self, stream: int, seq: int, at: float) -> None:
        self.stream.append(stream)
        self.seq.append(seq)
        self.time.append(at)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_stream": np.frombuffer(self.stream, dtype=np.uint32).copy(),
            f"{prefix}_seq": np.frombuffer(self.seq, dtype=np.uint32).copy(),
            f"{prefix}_time": np.frombuffer(self.time, dtype=np.float64).copy(),
        }


class MarkerTap:
    """An ``AudioTap`` for the Realtime emulator's bench mode."""

    def __init__(self) -> None:
        self.inbound_log = FrameLog()  # caller frames received: stream = caller leg, seq = its frame number
        self.outbound_log = FrameLog()  # agent frames sent: stream = emulator session index
        self.unmarked_in = 0
        self._next_seq: dict[int, int] = {}

    def inbound(self, session: int, b64: str) -> None:
        found = marker.read(b64)
        if found is None:
            self.unmarked_in += 1
        else:
            self.inbound_log.add(found[0], found[1], time.monotonic())

    def outbound(self, session: int, b64: str) -> str:
        seq = self._next_seq.get(session, 0)
        self._next_seq[session] = seq + 1
        self.outbound_log.add(session, seq, time.monotonic())
        return marker.stamp(b64, session, seq)

    def save(self, path: Path) -> None:
        """Write both logs as one ``.npz``, atomically (the reader polls for the file)."""
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            unmarked_in=np.array([self.unmarked_in]),
            **self.inbound_log.arrays("in"),
            **self.outbound_log.arrays("out"),
        )
        tmp.replace(path)
