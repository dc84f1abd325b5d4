"""One emulated WebRTC call: the aiortc peer that answers the browser's offer, and the Realtime event protocol
spoken on the browser's data channel and on the server's "sideband" socket (``/v1/realtime?call_id=<id>``), which
gets every event the data channel gets and may send the same client events (session.update, function outputs...).

Client events are handled one at a time in arrival order (a function output, then ``response.create``), from a
queue fed by the channel's callback; the mic track feeds an energy VAD that ends user turns like ``server_vad``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from gateway.audio import REALTIME_RATE, SAMPLE_WIDTH
from gateway.emulators.known_speech import heard
from gateway.emulators.realtime.dialect import names
from gateway.emulators.realtime.script import ScriptCursor
from gateway.emulators.realtime.session_config import SessionError, SessionSettings
from gateway.emulators.realtime.vad import EnergyVad, VadEvent, VadParams, vad_params
from gateway.emulators.realtime.wire import new_id

from .media import AgentVoiceTrack, read_mic
from .records import CallRecord, FunctionCallOutput
from .responses import Responder

if TYPE_CHECKING:
    from .config import WebRtcEmulatorConfig

logger = logging.getLogger(__name__)


class EmulatedCall:
    def __init__(self, config: WebRtcEmulatorConfig, record: CallRecord, settings: SessionSettings) -> None:
        self.config = config
        self.record = record
        self.settings = settings
        self.names = names(settings.dialect)
        self.conversation_id = new_id("conv")
        self.cursor = ScriptCursor(config.script)
        self.pc = RTCPeerConnection()
        self.voice = AgentVoiceTrack()
        self.channel: RTCDataChannel | None = None
        self.responder = Responder(self)
        self.expected_calls: set[str] = set()
        self.vad = EnergyVad(self._vad_params())
        self._speech_item: str | None = None
        self._last_item: str | None = None
        self._inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (source, raw event)
        self.sidebands: set[asyncio.Queue[str | None]] = set()  # one outbox per attached sideband socket
        self._event_ids = 0
        self._source = "datachannel"
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "conversation.item.create": self._on_item_create,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_clear,
            "input_audio_buffer.clear": self._on_input_clear,
        }

    # ---- signalling ------------------------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        """Accept the browser's offer; returns the SDP answer (with our candidates, gathered before returning)."""
        pc = self.pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self._spawn(read_mic(track, self._on_mic), "mic")

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            self._attach(channel)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            self.record.connection_states.append(pc.connectionState)
            logger.info("call %s: connection %s", self.record.call_id, pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                await self.close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        pc.addTrack(self.voice)
        await pc.setLocalDescription(await pc.createAnswer())
        self.record.answer_sdp = pc.localDescription.sdp
        self._spawn(self._consume(), "events")
        return self.record.answer_sdp

    async def close(self) -> None:
        if self.record.closed:
            return
        self.record.closed_at = time.monotonic()
        for outbox in self.sidebands:
            outbox.put_nowait(None)
        await self.responder.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.voice.stop()
        await self.pc.close()
        logger.info("call %s closed", self.record.call_id)

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.create_task(coro, name=f"webrtc-{what}-{self.record.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- data channel ----------------------------------------------------------------------------------------

    def _attach(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        self.record.channel_label = channel.label

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            raw = message if isinstance(message, str) else message.decode("utf-8", "replace")
            self._inbox.put_nowait(("datachannel", raw))

        self.send({"type": "session.created", "session": self.settings.snapshot()})

    def send(self, event: dict[str, Any]) -> None:
        self._event_ids += 1
        event["event_id"] = f"event_{self.record.call_id[-6:]}{self._event_ids:05d}"
        self.record.sent_types.append(str(event["type"]))
        text = json.dumps(event, ensure_ascii=False)
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)
        for outbox in self.sidebands:
            outbox.put_nowait(text)

    def sideband_message(self, raw: str) -> None:
        """A client event from the server's sideband socket: handled in the same order as the data channel's."""
        self._inbox.put_nowait(("sideband", raw))

    def error(self, code: str, message: str, *, param: str | None = None, client_event_id: Any = None) -> None:
        error = {"type": "invalid_request_error", "code": code, "message": message, "param": param,
                 "event_id": client_event_id}  # fmt: skip
        self.record.errors.append(error)
        logger.info("call %s: error %s: %s", self.record.call_id, code, message)
        self.send({"type": "error", "error": error})

    async def _consume(self) -> None:
        while True:
            source, raw = await self._inbox.get()
            self._source = source
            try:
                event = json.loads(raw)
            except ValueError:
                self.error("invalid_json", "We could not parse the JSON body of your request.")
                continue
            if not isinstance(event, dict):
                self.error("invalid_event", "Expected an object.")
                continue
            (self.record.sideband_events if source == "sideband" else self.record.events).append(event)
            handler = self._handlers.get(str(event.get("type")))
            if handler is None:
                self.error("invalid_value", f"Invalid value: '{event.get('type')}'. This event type is not supported.",
                           param="type", client_event_id=event.get("event_id"))  # fmt: skip
                continue
            try:
                await handler(event)
            except Exception:
                logger.exception("call %s: failed to handle %s", self.record.call_id, event.get("type"))
                self.error("server_error", "The server had an error handling the event.")

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        payload = event.get("session")
        try:
            self.settings.apply_update(
                payload, strict=self.config.strict, has_assistant_audio=self.record.audio_out_ms > 0
            )
        except SessionError as exc:
            self.error(exc.code, exc.message, param=exc.param, client_event_id=event.get("event_id"))
            return
        self.record.session_updates.append(copy.deepcopy(payload))  # type: ignore[arg-type]
        self.record.session_update_sources.append(self._source)
        self.record.session = self.settings.snapshot()
        self.vad.configure(self._vad_params())
        self.send({"type": "session.updated", "session": self.settings.snapshot()})

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict):
            self.error("invalid_type", "Invalid type for 'item': expected an object.", param="item")
            return
        if item.get("type") == "function_call_output":
            call_id = str(item.get("call_id") or "")
            if self.config.strict and call_id not in self.expected_calls:
                self.error("invalid_value", f"No function call with call_id '{call_id}' found.",
                           param="item.call_id", client_event_id=event.get("event_id"))  # fmt: skip
                return
            output = str(item.get("output") or "")
            self.record.function_call_outputs.append(FunctionCallOutput(call_id, output))
            self.responder.tool_outputs[call_id] = output
            self.responder.last_tool_output = output
        stored = {"id": item.get("id") or new_id("item"), "object": "realtime.item", "status": "completed", **item}
        previous, self._last_item = self._last_item, str(stored["id"])
        self.send({"type": self.names.item_added, "previous_item_id": previous, "item": stored})
        if self.names.item_done:
            self.send({"type": self.names.item_done, "previous_item_id": previous, "item": stored})

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        request = event.get("response") if isinstance(event.get("response"), dict) else {}
        if not self.responder.start("response.create", request or {}):
            self.error("conversation_already_has_active_response",
                       "Conversation already has an active response in progress.",
                       client_event_id=event.get("event_id"))  # fmt: skip

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        await self.responder.cancel("client_cancelled")

    async def _on_output_clear(self, event: dict[str, Any]) -> None:
        self.voice.clear()
        self.send({"type": "output_audio_buffer.cleared", "response_id": None})

    async def _on_input_clear(self, event: dict[str, Any]) -> None:
        self.vad.reset()
        self._speech_item = None
        self.send({"type": "input_audio_buffer.cleared"})

    # ---- caller audio and turns ------------------------------------------------------------------------------

    def _vad_params(self) -> VadParams:
        return vad_params(self.settings.turn_detection, self.config.vad)

    def _heard(self, spoken_ms: float) -> str:
        """The words of the caller's last turn when it is a known recording (``known_speech``)."""
        audio = self.record.audio_in
        kept, end = audio.pcm, audio.nbytes
        if end > len(kept):  # past what the record keeps
            return f"（発話 {spoken_ms / 1000:.1f}秒）"
        start = max(0, end - int((spoken_ms + 1200) / 1000 * REALTIME_RATE) * SAMPLE_WIDTH)
        return heard(kept[start:end], REALTIME_RATE)

    def _on_mic(self, pcm: bytes) -> None:
        self.record.audio_in.add(pcm)
        if self.settings.turn_detection is None:
            return
        for ev in self.vad.push(pcm):
            self._spawn(self._on_vad(ev), "turn")

    async def _on_vad(self, ev: VadEvent) -> None:
        td = self.settings.turn_detection
        if td is None:
            return
        if ev.kind == "started":
            self._speech_item = new_id("item")
            self.send(
                {"type": "input_audio_buffer.speech_started", "audio_start_ms": ev.at_ms, "item_id": self._speech_item}
            )
            if td.interrupt_response and (self.responder.active or self.voice.playing):
                await self.responder.cancel("turn_detected")
            return
        item_id, self._speech_item = self._speech_item, None
        if item_id is None:
            return
        self.send({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ev.at_ms, "item_id": item_id})
        previous, self._last_item = self._last_item, item_id
        self.send({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item_id})
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        self.send({"type": self.names.item_added, "previous_item_id": previous, "item": item})
        spoken_ms = ev.speech_ms
        transcript = self.cursor.next_user_transcript() or self._heard(spoken_ms)
        self.record.user_turns.append(transcript)
        self.responder.last_user_text = transcript
        if self.settings.transcription is not None:
            self.send({"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
                       "content_index": 0, "transcript": transcript})  # fmt: skip
        if td.create_response and not self.responder.start("server_vad", {}):
            logger.info("call %s: turn ended during a response; not starting another", self.record.call_id)
