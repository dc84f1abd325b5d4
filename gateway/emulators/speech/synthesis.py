"""Text-to-speech: one synthesis WebSocket, answering each ``ssml`` message with paced audio frames."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from quart import websocket

from gateway.emulators.speech.records import Synthesis
from gateway.emulators.speech.tts import parse_output_format, synthesize
from gateway.emulators.speech.usp import binary_frame, new_id, text_frame
from gateway.emulators.speech.wire import SERVICE_TAG, json_body, receive_messages

if TYPE_CHECKING:
    from gateway.emulators.speech.emulator import SpeechEmulator


def ssml_text(ssml: str) -> tuple[str, str, str]:
    """Plain text, voice name and language of an SSML document."""
    voice = lang = ""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError:
        text = html.unescape(re.sub(r"<[^>]+>", "", ssml))
        m = re.search(r"<voice[^>]*\bname=['\"]([^'\"]+)", ssml)
        return " ".join(text.split()), (m.group(1) if m else ""), ""
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "speak":
            lang = lang or el.attrib.get("{http://www.w3.org/XML/1998/namespace}lang", el.attrib.get("lang", ""))
        elif tag == "voice" and not voice:
            voice = el.attrib.get("name", "")
    text = "".join(root.itertext())
    return text.strip(), voice, lang


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
        text, voice, lang = ssml_text(ssml)
        record = Synthesis(self.connection_id, request_id, ssml, text, voice, lang, fmt_name)
        emu.syntheses.append(record)
        try:
            fmt = parse_output_format(fmt_name)
        except ValueError as exc:
            record.error = str(exc)
            await websocket.close(1007, str(exc)[:120])
            return
        await websocket.send(text_frame("turn.start", request_id, {"context": {"serviceTag": SERVICE_TAG}}))
        audio = synthesize(text, fmt)
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
