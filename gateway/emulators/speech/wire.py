"""USP socket plumbing shared by the recognition and synthesis connections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from quart import websocket

from gateway.emulators.speech.usp import UspMessage, parse_frame

logger = logging.getLogger("gateway.emulators.speech.emulator")

SERVICE_TAG = "emulator"


async def receive_messages() -> AsyncIterator[UspMessage]:
    """The USP messages arriving on the current WebSocket; unparsable frames are logged and skipped."""
    while True:
        frame = await websocket.receive()
        try:
            msg = parse_frame(frame)
        except ValueError as exc:
            logger.warning("speech emulator: bad USP frame: %s", exc)
            continue
        yield msg


def json_body(msg: UspMessage) -> Any:
    try:
        return msg.json()
    except (ValueError, UnicodeDecodeError):
        return None
