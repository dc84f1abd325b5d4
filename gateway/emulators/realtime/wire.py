"""Sending server events: ids, JSON encoding, the error envelope, and counting what went out.

All outgoing traffic of a session goes through one ``EventSender`` so that every event gets an ``event_id``
like the real service's, tests can count what was sent, and the audio hot path can skip the generic encoder.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from typing import Any, Protocol

from .records import SessionRecord

logger = logging.getLogger(__name__)


class TextSocket(Protocol):
    async def send(self, data: str) -> None: ...


class ConnectionGone(Exception):
    """The socket can no longer be written to (the client left or the server dropped it)."""


def new_id(prefix: str) -> str:
    """An id shaped like the service's (``item_…``, ``resp_…``, ``call_…``)."""
    return f"{prefix}_{secrets.token_hex(10)}"


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class EventSender:
    """Encodes and sends server events on one socket."""

    def __init__(self, ws: TextSocket, record: SessionRecord, log_types: bool) -> None:
        self._ws = ws
        self._record = record
        self._ids = itertools.count(1)
        self._prefix = f"event_{record.session_id[-8:]}"
        self._log: list[str] | None = record.sent_types if log_types else None
        self.closed = False

    def next_event_id(self) -> str:
        return f"{self._prefix}{next(self._ids):06d}"

    async def send(self, event: dict[str, Any]) -> None:
        event["event_id"] = self.next_event_id()
        await self.send_text(event["type"], dumps(event))

    async def send_text(self, type_: str, text: str) -> None:
        """Send an already encoded event (the audio-delta fast path).

        Servers differ on sends after a disconnect (Hypercorn drops them, uvicorn and websockets raise); all of
        them become ``ConnectionGone`` so callers can stop quietly.
        """
        if self.closed:
            raise ConnectionGone
        self._record.sent_counts[type_] += 1
        if self._log is not None:
            self._log.append(type_)
        try:
            await self._ws.send(text)
        except Exception as exc:
            self.closed = True
            raise ConnectionGone from exc

    async def error(
        self,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        client_event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        """Send ``{"type":"error","error":{...}}`` as the service does; the connection stays open."""
        error = {"type": type_, "code": code, "message": message, "param": param, "event_id": client_event_id}
        self._record.errors.append(error)
        logger.info("session %s: error %s: %s", self._record.session_id, code, message)
        await self.send({"type": "error", "error": error})
