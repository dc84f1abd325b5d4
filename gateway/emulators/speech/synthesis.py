"""Text-to-speech: one synthesis WebSocket, answering each ``ssml`` message with paced audio frames."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from quart import websocket

from gateway.emulators.speech.records import Synthesis
from gateway.emulators.speech.tts import parse_output_format, synthesize
from gateway.emulators.speech.usp import binary_frame, new_id, text_frame
from gateway.emulators.speech.wire import SERVICE_TAG, json_body, receive_messages
from gateway.emulators.ssml import SsmlError, parse_ssml, plain_text

if TYPE_CHECKING:
    from gateway.emulators.speech.emulator import SpeechEmulator

logger = logging.getLogger(__name__)

#: WebSocket close code the service uses to refuse a synthesis request (invalid SSML, unsupported voice...);
#: the SDK cancels the synthesis with "Connection was closed by the remote host. Error code: 1007. Error
#: details: <reason>".
INVALID_REQUEST_CLOSE = 1007
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code


def close_reason(message: str) -> str:
    """``message`` cut to fit a close frame, on a UTF-8 character boundary."""
    return message.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


class SynthesisConnection:
    """One synthesis socket: each ``ssml`` message is spoken in turn."""

    def __init__(self, emu: SpeechEmulator) -> None:
        self.emu = emu
        self.connection_id = websocket.headers.get("X-ConnectionId", "") or new_id()
        self.contexts: dict[str, Any] = {}
        self.last_context: Any = None
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.speech_config: Any = None

    async def run(self) -> None:
        worker = asyncio.create_task(self._worker())
        try:
            async for msg in receive_messages():
                path = msg.path.lower()
                if path == "speech.config":
                    self.speech_config = json_body(msg)
                elif path == "synthesis.context":
                    self.last_context = json_body(msg)
                    self.contexts[msg.request_id] = self.last_context
                elif path == "ssml":
                    body = msg.body if isinstance(msg.body, str) else msg.body.decode("utf-8", "replace")
                    self.queue.put_nowait((msg.request_id, body))
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _worker(self) -> None:
        while True:
            request_id, ssml = await self.queue.get()
            context = self.contexts.pop(request_id, self.last_context) or {}
            await self._speak(request_id, ssml, context)

    async def _speak(self, request_id: str, ssml: str, context: Any) -> None:
        emu = self.emu
        fmt_name = ((context.get("synthesis") or {}).get("audio") or {}).get(
            "outputFormat"
        ) or "riff-16khz-16bit-mono-pcm"
        try:
            doc = parse_ssml(ssml)
        except SsmlError as exc:
            record = Synthesis(self.connection_id, request_id, ssml, plain_text(ssml), "", "", fmt_name)
            emu.syntheses.append(record)
            await self._refuse(record, request_id, str(exc), turn_started=True)
            return
        record = Synthesis(self.connection_id, request_id, ssml, doc.text, doc.voice, doc.language, fmt_name,
                           doc.spoken, doc.readings)  # fmt: skip
        emu.syntheses.append(record)
        try:
            fmt = parse_output_format(fmt_name)
        except ValueError as exc:
            await self._refuse(record, request_id, str(exc), turn_started=False)
            return
        await websocket.send(text_frame("turn.start", request_id, {"context": {"serviceTag": SERVICE_TAG}}))
        audio = synthesize(doc.spoken, fmt)
        chunk = max(fmt.bytes_per_sample, fmt.rate * emu.tts_chunk_ms // 1000 * fmt.bytes_per_sample)
        if emu.tts_first_chunk_delay:
            await asyncio.sleep(emu.tts_first_chunk_delay)
        started = time.monotonic()
        for pos in range(0, len(audio), chunk):
            piece = audio[pos : pos + chunk]
            if emu.tts_realtime_factor:
                due = started + pos / fmt.bytes_per_sample / fmt.rate / emu.tts_realtime_factor
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await websocket.send(binary_frame("audio", request_id, piece, extra={"X-StreamId": "1"}))
            if record.first_audio_at is None:
                record.first_audio_at = time.monotonic()
            record.audio.extend(piece)
        await websocket.send(text_frame("turn.end", request_id, {}))
        record.completed = True

    async def _refuse(self, record: Synthesis, request_id: str, reason: str, *, turn_started: bool) -> None:
        """Refuse the request as the service does: close the socket with 1007 and the reason (after
        ``turn.start`` for a bad document, as the SDK's "USP state: TurnStarted" in such errors shows)."""
        record.error = reason
        logger.info("speech emulator: synthesis %s refused: %s", request_id, reason)
        if turn_started:
            await websocket.send(text_frame("turn.start", request_id, {"context": {"serviceTag": SERVICE_TAG}}))
        await websocket.close(INVALID_REQUEST_CLOSE, close_reason(reason))
