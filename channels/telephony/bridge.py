"""The media bridge: a carrier's socket messages, as typed events, to the engine and the conversation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.conversation import Conversation
from gateway.engines.base import EngineSession

from .carrier import CallerAudio, DtmfDigits, MediaAdapter, MediaRefused, PlayoutMark, StreamStopped

logger = logging.getLogger(__name__)
MAX_BAD_MEDIA_MESSAGES = 100  # carriers never send malformed messages; a socket that sends this many is not one


async def pump_media(
    receive: Callable[[], Awaitable[str | bytes]],
    adapter: MediaAdapter,
    engine: EngineSession,
    conversation: Conversation,
    runner: asyncio.Task[str],
    on_digits: Callable[[str], None],
    max_bytes: int,
) -> None:
    """Until the conversation ends or the carrier stops the stream; raises MediaRefused for a socket to close."""
    bad_frames = 0
    while not runner.done():
        message = await receive()
        try:
            if len(message) > max_bytes:  # also bounded by Hypercorn when served by the CLI
                raise MediaRefused(1009, "media message too big")
            item = adapter.parse(message)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # malformed: not the carrier
            bad_frames += 1
            if bad_frames <= 3:
                logger.warning("malformed media message ignored: %s", exc)
            if bad_frames > MAX_BAD_MEDIA_MESSAGES:
                raise MediaRefused(1008, "too many malformed media messages") from None
            continue
        if type(item) is CallerAudio:
            await conversation.caller_audio(item.b64, item.encoding)  # first: it may start the agent's audio
            if conversation.admits_caller_audio():  # turn-based: nothing of the caller while the agent is heard
                await engine.send_audio_b64(item.b64)
        elif isinstance(item, PlayoutMark):
            adapter.mark_echoed(item.name)
        elif isinstance(item, DtmfDigits):
            on_digits(item.digits)
        elif isinstance(item, StreamStopped):
            logger.info("the carrier stopped the media stream")
            return
