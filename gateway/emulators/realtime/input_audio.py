"""The input side of a Realtime session: ``input_audio_buffer`` events, server VAD turns and user-item commits.

``InputAudioMixin`` is mixed into ``RealtimeSession`` (see ``session.py``), which owns the state it uses.
``input_audio_buffer.append`` has a short path because it arrives 50 times a second per call.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import TYPE_CHECKING, Any

from gateway.audio import REALTIME_RATE, b64_decoded_len, b64decode
from gateway.emulators.known_speech import heard

from .audio_format import PCM16, InputDecoder
from .records import EventRecord, UserTurn
from .vad import VadParams, vad_params
from .voice import bytes_to_ms, ms_to_bytes
from .wire import new_id

if TYPE_CHECKING:
    from .config import AudioTap, BenchConfig
    from .dialect import EventNames
    from .emulator import RealtimeEmulator
    from .records import SessionRecord
    from .responses import ResponseEngine
    from .script import ScriptCursor
    from .session_config import SessionSettings
    from .vad import EnergyVad, VadEvent
    from .wire import EventSender

logger = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
APPEND = "input_audio_buffer.append"


class InputAudioMixin:
    """Caller audio in: appends, the energy VAD standing in for ``server_vad``, commits and clears."""

    emulator: RealtimeEmulator
    settings: SessionSettings
    record: SessionRecord
    names: EventNames
    sender: EventSender
    cursor: ScriptCursor
    engine: ResponseEngine
    bench: BenchConfig | None
    tap: AudioTap | None
    vad: EnergyVad | None
    _vad_on: bool
    _log_appends: bool
    _total_bytes: int
    _buffer_start: int
    _speech: tuple[str, VadEvent] | None
    _item_ids: list[str]
    _last_user_text: str | None
    _bench_audio: asyncio.Event
    _decoder: InputDecoder

    if TYPE_CHECKING:

        def add_item(self, item: dict[str, Any], after: str | None = None, *, root: bool = False) -> str | None: ...

    async def _on_append(self, event: dict[str, Any]) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            await self.sender.error("invalid_value", "Missing or invalid 'audio'.", param="audio",
                                    client_event_id=event.get("event_id"))  # fmt: skip
            return
        if self._log_appends:
            self.record.events.append(EventRecord(APPEND, time.monotonic()))
        if self._decoder.codec != PCM16:
            if self.tap is not None:  # the benchmark's marker rides on the wire bytes, whatever their codec
                self.tap.inbound(self.record.index, audio)
            await self._append_pcm(self._decode_g711(audio))
            return
        if not self._vad_on:
            n = b64_decoded_len(audio)
            self.record.audio_in.add_b64(audio, n)
            self._total_bytes += n
            if self.vad is not None:
                self.vad.skip(n)
            else:
                if self.tap is not None:
                    self.tap.inbound(self.record.index, audio)
                if not self._bench_audio.is_set():
                    self._bench_audio.set()
            return
        await self._append_pcm(b64decode(audio))

    def _decode_g711(self, audio: str) -> bytes:
        """G.711 appends: kept as received, and decoded to the PCM16 24 kHz timeline everything else runs on."""
        wire = b64decode(audio)
        if self.record.audio_in.keep:
            self.record.audio_in_wire += wire
        return self._decoder.decode(wire)

    async def _append_pcm(self, pcm: bytes) -> None:
        self.record.audio_in.add_pcm(pcm)
        self._total_bytes += len(pcm)
        if self.vad is None:
            if not self._bench_audio.is_set():
                self._bench_audio.set()
            return
        if not self._vad_on:
            self.vad.skip(len(pcm))
            return
        for vad_event in self.vad.push(pcm):
            await self._on_vad(vad_event)

    def _vad_params(self) -> VadParams:
        return vad_params(self.settings.turn_detection, self.emulator.config.vad)

    async def _on_vad(self, ev: VadEvent) -> None:
        td = self.settings.turn_detection
        if ev.kind == "started":
            item_id = new_id("item")
            self._speech = (item_id, ev)
            await self.sender.send(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": ev.at_ms, "item_id": item_id}
            )
            if td is not None and td.interrupt_response and self.engine.active is not None:
                await self.engine.cancel("turn_detected")
            return
        if self._speech is None:
            return
        item_id, started = self._speech
        self._speech = None
        await self.sender.send(
            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ev.at_ms, "item_id": item_id}
        )
        start_bytes = max(self._buffer_start, ms_to_bytes(started.at_ms))
        await self._commit(item_id, start_bytes, ms_to_bytes(ev.at_ms), "server_vad", started.speech_ms, ev.speech_ms)
        if td is not None and td.create_response:
            if self.engine.active is None:
                await self.engine.start("server_vad", {})
            else:
                logger.info("session %s: turn ended during a response; not starting another", self.record.session_id)

    async def _commit(
        self, item_id: str, start: int, end: int, via: str, speech_start: float | None, speech_end: float | None
    ) -> None:
        """Turn the buffered audio into a user item (and its transcript), as the service does on commit."""
        self._buffer_start = max(end, self._buffer_start)
        previous = self._item_ids[-1] if self._item_ids else None
        await self.sender.send({"type": "input_audio_buffer.committed", "previous_item_id": previous,
                                "item_id": item_id})  # fmt: skip
        duration = bytes_to_ms(max(0, end - start))
        transcript = self.cursor.next_user_transcript()
        if transcript is None:
            kept = self.record.audio_in.pcm if self.record.audio_in.keep else b""
            segment = kept[start:end] if len(kept) >= end else b""
            transcript = heard(segment, REALTIME_RATE) if segment else f"（発話 {duration / 1000:.1f}秒）"
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        self.add_item(item)
        await self.sender.send(
            {"type": self.names.item_added, "previous_item_id": previous, "item": copy.deepcopy(item)}
        )
        if self.names.item_done is not None:
            await self.sender.send({"type": self.names.item_done, "previous_item_id": previous,
                                    "item": copy.deepcopy(item)})  # fmt: skip
        self.record.user_turns.append(
            UserTurn(item_id, bytes_to_ms(start), bytes_to_ms(end), transcript, via, speech_start, speech_end)
        )
        self._last_user_text = transcript
        if self.settings.transcription is not None or self.emulator.config.always_transcribe:
            item["content"][0]["transcript"] = transcript
            await self.sender.send(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": transcript,
                    "usage": {"type": "duration", "seconds": round(duration / 1000, 3)},
                }
            )

    async def _on_commit(self, event: dict[str, Any]) -> None:
        buffered = bytes_to_ms(self._total_bytes - self._buffer_start)
        if buffered < MIN_COMMIT_MS:
            await self.sender.error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered:.2f}ms of audio.",
                client_event_id=event.get("event_id"),
            )
            return
        item_id = new_id("item")
        speech_start = None
        if self._speech is not None:
            item_id, started = self._speech
            speech_start = started.speech_ms
            self._speech = None
        if self.vad is not None:
            self.vad.reset()
        await self._commit(item_id, self._buffer_start, self._total_bytes, "commit", speech_start, None)

    async def _on_clear(self, event: dict[str, Any]) -> None:
        self._buffer_start = self._total_bytes
        self._speech = None
        if self.vad is not None:
            self.vad.reset()
        await self.sender.send({"type": "input_audio_buffer.cleared"})
