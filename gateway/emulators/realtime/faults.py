"""Fault injection: refuse connections, drop a live session mid-response, count connection attempts.

The gateway must survive the service misbehaving (handshake refusals during an outage, a socket dying in the
middle of a reply); these switches let a test provoke exactly that at a chosen moment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ConnectionStats:
    """Connection counters, for asserting on reconnect behaviour (and the benchmark's peak concurrency)."""

    attempts: int = 0
    accepted: int = 0
    refused_fault: int = 0
    refused_auth: int = 0
    refused_bad_request: int = 0
    dropped: int = 0
    active: int = 0
    max_active: int = 0


@dataclass(slots=True)
class DropPlan:
    """Drop the next ``remaining`` responses' sessions once ``after_audio_ms`` of their audio has been sent.

    ``code`` is the WebSocket close code (1011 = server error, recoverable for the SDK); ``None`` aborts the TCP
    connection with no close frame, like a network failure (the client sees 1006).
    """

    after_audio_ms: float
    code: int | None
    remaining: int


@dataclass(slots=True)
class Faults:
    """Armed faults. Mutated through ``RealtimeEmulator`` methods."""

    refuse_status: int | None = None
    refuse_until: float | None = None
    refuse_remaining: int | None = None
    drop: DropPlan | None = None

    def refusal(self) -> int | None:
        """The HTTP status to refuse this handshake with, or ``None`` to let it through."""
        if self.refuse_status is None:
            return None
        if self.refuse_until is not None and time.monotonic() >= self.refuse_until:
            self.refuse_status = self.refuse_until = self.refuse_remaining = None
            return None
        if self.refuse_remaining is not None:
            if self.refuse_remaining <= 0:
                self.refuse_status = self.refuse_until = self.refuse_remaining = None
                return None
            self.refuse_remaining -= 1
        return self.refuse_status

    def take_drop(self, sent_ms: float) -> DropPlan | None:
        """The drop plan if a response that has sent ``sent_ms`` of audio should die now (consumes one use)."""
        plan = self.drop
        if plan is None or sent_ms < plan.after_audio_ms:
            return None
        plan.remaining -= 1
        if plan.remaining <= 0:
            self.drop = None
        return plan


def abort_transport(scope: dict[str, Any]) -> bool:
    """Abort the TCP connection behind an ASGI scope, without a close frame.

    ASGI has no way to do this, so this finds Hypercorn's per-connection ``StreamWriter`` among the running tasks
    (its server callback holds it as ``writer``) by the client's address. Returns ``False`` when it cannot, and
    the caller falls back to a 1011 close.
    """
    client = scope.get("client")
    if not client:
        return False
    peer = (client[0], client[1])
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        writer = frame.f_locals.get("writer") if frame is not None else None
        if not isinstance(writer, asyncio.StreamWriter):
            continue
        name = writer.get_extra_info("peername")
        if name and (name[0], name[1]) == peer:
            writer.transport.abort()
            return True
    logger.warning("could not find the transport of %s to abort", peer)
    return False
