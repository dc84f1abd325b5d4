"""Twilio call status callbacks: parsed, and ordered by ``SequenceNumber`` (separate requests, any order)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TERMINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    call_sid: str
    status: str
    sequence: int | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def parse_status(form: Mapping[str, Any]) -> StatusUpdate | None:
    call_sid, status = str(form.get("CallSid") or ""), str(form.get("CallStatus") or "")
    if not call_sid or not status:
        return None
    try:
        sequence: int | None = int(form.get("SequenceNumber") or "")
    except ValueError:
        sequence = None
    return StatusUpdate(call_sid, status, sequence)


class CallStatuses:
    """The latest status of each call by its sequence number; a terminal status is final whatever comes later."""

    def __init__(self, keep: int = 10_000) -> None:
        self.keep = keep
        self._latest: dict[str, tuple[int, str]] = {}

    def apply(self, update: StatusUpdate) -> bool:
        """Whether ``update`` is news (newer than what we know, and the call not ended already)."""
        known = self._latest.get(update.call_sid)
        if known is not None:
            sequence, status = known
            if status in TERMINAL:
                return False
            if update.sequence is not None and update.sequence <= sequence and not update.terminal:
                return False
        self._latest[update.call_sid] = (update.sequence if update.sequence is not None else -1, update.status)
        while len(self._latest) > self.keep:
            self._latest.pop(next(iter(self._latest)))
        return True

    def ended(self, call_sid: str) -> bool:
        known = self._latest.get(call_sid)
        return known is not None and known[1] in TERMINAL

    def mark_ended(self, call_sid: str) -> None:
        self.apply(StatusUpdate(call_sid, "completed", None))
