"""One Realtime WebSocket session: reads client events and answers them like the service.

It owns the input side (audio buffer, VAD, commits, user items), the conversation, and the session settings;
responses are delegated to ``ResponseEngine``. Client events are handled one at a time in arrival order, as
the service does, while response audio streams from its own task. ``input_audio_buffer.append`` has a short
path because it arrives 50 times a second per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from gateway.audio import b64_decoded_len, b64decode

from .config import Pacing
from .dialect import Dialect, names
from .faults import abort_transport
from .handshake import Handshake
from .records import AudioLog, EventRecord, FunctionCallOutputRecord, SessionRecord, TruncateRecord, UserTurn
from .responses import ResponseEngine
from .script import ReplyContext, Say
from .session_config import SessionError, SessionSettings
from .vad import EnergyVad, VadEvent, VadParams
from .voice import bytes_to_ms, ms_to_bytes
from .wire import ConnectionGone, EventSender, TextSocket, new_id

if TYPE_CHECKING:
    from .emulator import RealtimeEmulator

logger = logging.getLogger(__name__)

MIN_COMMIT_MS = 100
APPEND = "input_audio_buffer.append"


class CloseableSocket(TextSocket, Protocol):
    async def receive(self) -> str | bytes: ...
    async def close(self, code: int, reason: str = "") -> None: ...


class RealtimeSession:
    """Protocol handler for one accepted WebSocket."""

    def __init__(
        self, emulator: RealtimeEmulator, handshake: Handshake, ws: CloseableSocket, scope: dict[str, Any]
    ) -> None:
        config = emulator.config
        self.emulator = emulator
        self.ws = ws
        self.scope = scope
        self.pacing: Pacing = config.pacing
        session_id = new_id("sess")
        self.settings = SessionSettings(
            handshake.dialect, session_id, handshake.model, config.default_instructions, config.session_lifetime_s
        )
        self.record = SessionRecord(
            index=len(emulator.sessions),
            session_id=session_id,
            path=handshake.path,
            dialect=handshake.dialect,
            model=handshake.model,
            query=dict(handshake.query),
            auth=handshake.auth,
            audio_in=AudioLog(keep=config.keep_audio),
            session=self.settings.snapshot(),
        )
        self.names = names(handshake.dialect)
        self.sender = EventSender(ws, self.record, config.log_appends)
        self.cursor = emulator.cursor_for_session()
        self.engine = ResponseEngine(self)
        self.bench = config.bench
        self.tap = config.bench.tap if config.bench is not None else None
        self.vad: EnergyVad | None = None if self.bench else EnergyVad(self._vad_params())
        self._vad_on = self.vad is not None and self.settings.turn_detection is not None
        self._log_appends = config.log_appends
        self._total_bytes = 0
        self._buffer_start = 0
        self._speech: tuple[str, VadEvent] | None = None
        self._item_ids: list[str] = []
        self._last_user_text: str | None = None
        self._tool_outputs: dict[str, str] = {}
        self._last_tool_output: str | None = None
        self._kill: asyncio.Future[int | None] | None = None
        self._kill_error: str | None = None
        self._bench_audio = asyncio.Event()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "conversation.item.truncate": self._on_truncate,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_ignored,
        }

    # ---- connection lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the socket until the client leaves or a fault drops it."""
        loop = asyncio.get_running_loop()
        self._kill = loop.create_future()
        reader = asyncio.create_task(self._read_loop(), name=f"realtime-read-{self.record.session_id}")
        bench = asyncio.create_task(self._bench_loop()) if self.bench else None
        try:
            with contextlib.suppress(ConnectionGone):
                await self.sender.send({"type": "session.created", "session": self.settings.snapshot()})
            await asyncio.wait({reader, self._kill}, return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                logger.debug("session %s: reader ended: %r", self.record.session_id, reader.exception())
            if self._kill.done():
                await self._drop(self._kill.result())
        finally:
            for task in (reader, bench):
                if task is not None:
                    task.cancel()
            await self.engine.abort()
            self.record.closed_at = time.monotonic()
            logger.info("session %s closed", self.record.session_id)

    def request_drop(self, code: int | None, error: str | None = None) -> None:
        """Ask the session to drop its connection (close ``code``, or TCP abort when ``None``)."""
        if self._kill is not None and not self._kill.done():
            self._kill_error = error
            self._kill.set_result(code)

    async def _drop(self, code: int | None) -> None:
        stats = self.emulator.stats
        stats.dropped += 1
        await self.engine.abort()
        if self._kill_error:
            with contextlib.suppress(ConnectionGone):
                await self.sender.error(self._kill_error, f"Session ended by the server: {self._kill_error}.")
        if code is None:
            abort = getattr(self.ws, "abort", None)
            if abort is not None:
                abort()
                self.record.dropped = "abort"
                return
            if abort_transport(self.scope):
                self.record.dropped = "abort"
                return
        code = code or 1011
        self.record.dropped = f"close {code}"
        try:
            await self.ws.close(code, "emulated fault")
        except Exception:  # already gone: nothing left to drop
            logger.debug("session %s: close after disconnect", self.record.session_id, exc_info=True)

    async def _read_loop(self) -> None:
        while True:
            message = await self.ws.receive()
            if isinstance(message, bytes):
                await self.sender.error("invalid_event", "Binary frames are not supported.")
                continue
            try:
                await self._dispatch(message)
            except ConnectionGone:
                return
            except Exception:
                logger.exception("session %s: failed to handle an event", self.record.session_id)
                await self.sender.error("server_error", "The server had an error handling the event.",
                                        type_="server_error")  # fmt: skip

    async def _dispatch(self, message: str) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            await self.sender.error("invalid_json", "We could not parse the JSON body of your request.")
            return
        if not isinstance(event, dict):
            await self.sender.error("invalid_event", "Expected an object.")
            return
        kind = event.get("type")
        if kind == APPEND:
            await self._on_append(event)
            return
        self.record.events.append(EventRecord(str(kind), time.monotonic(), event))
        if kind is None:
            await self.sender.error(
                "invalid_event", "The 'type' field is missing.", client_event_id=event.get("event_id")
            )
            return
        handler = self._handlers.get(kind)
        if handler is None:
            await self.sender.error(
                "invalid_value", f"Invalid value: '{kind}'. This event type is not supported.", param="type",
                client_event_id=event.get("event_id"),
            )  # fmt: skip
            return
        await handler(event)

    # ---- input audio -----------------------------------------------------------------------------------------

    async def _on_append(self, event: dict[str, Any]) -> None:
        audio = event.get("audio")
        if not isinstance(audio, str):
            await self.sender.error("invalid_value", "Missing or invalid 'audio'.", param="audio",
                                    client_event_id=event.get("event_id"))  # fmt: skip
            return
        if self._log_appends:
            self.record.events.append(EventRecord(APPEND, time.monotonic()))
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
        pcm = b64decode(audio)
        self.record.audio_in.add_pcm(pcm)
        self._total_bytes += len(pcm)
        assert self.vad is not None
        for vad_event in self.vad.push(pcm):
            await self._on_vad(vad_event)

    def _vad_params(self) -> VadParams:
        td = self.settings.turn_detection
        tuning = self.emulator.config.vad
        if td is None:
            return VadParams()
        return VadParams(
            rms_threshold=tuning.rms_at_default_threshold * td.threshold / 0.5,
            hold_ratio=tuning.hold_ratio,
            min_speech_ms=tuning.min_speech_ms,
            silence_duration_ms=td.silence_duration_ms,
            prefix_padding_ms=td.prefix_padding_ms,
        )

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
            transcript = f"[{duration / 1000:.1f}s of caller speech]"
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

    # ---- session ---------------------------------------------------------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        payload = event.get("session")
        has_audio = any(o.sent_bytes for r in self.record.responses for o in r.outputs)
        try:
            self.settings.apply_update(payload, strict=self.emulator.config.strict, has_assistant_audio=has_audio)
        except SessionError as exc:
            await self.sender.error(exc.code, exc.message, param=exc.param, client_event_id=event.get("event_id"))
            return
        assert isinstance(payload, dict)
        self.record.session_updates.append(copy.deepcopy(payload))
        self.record.session = self.settings.snapshot()
        if "instructions" in payload:
            self.record.instructions_history.append(str(payload.get("instructions") or ""))
        if self.vad is not None:
            self.vad.configure(self._vad_params())
            self._vad_on = self.settings.turn_detection is not None
            if not self._vad_on:
                self.vad.reset()
                self._speech = None
        await self.sender.send({"type": "session.updated", "session": self.settings.snapshot()})

    # ---- conversation ----------------------------------------------------------------------------------------

    def add_item(self, item: dict[str, Any], after: str | None = None, *, root: bool = False) -> str | None:
        """Put an item into the conversation (at the end, after ``after``, or first); returns the previous id."""
        if root:
            index = 0
        elif after is not None:
            index = self._item_ids.index(after) + 1
        else:
            index = len(self._item_ids)
        previous = self._item_ids[index - 1] if index > 0 else None
        self._item_ids.insert(index, item["id"])
        self.record.items.insert(index, item)
        return previous

    def previous_item_id(self, item_id: str) -> str | None:
        try:
            index = self._item_ids.index(item_id)
        except ValueError:
            return None
        return self._item_ids[index - 1] if index > 0 else None

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in ("message", "function_call", "function_call_output"):
            await self.sender.error("invalid_value", "Invalid 'item': expected a message, function_call or "
                                    "function_call_output.", param="item", client_event_id=eid)  # fmt: skip
            return
        item = copy.deepcopy(item)
        item.setdefault("id", new_id("item"))
        if item["id"] in self._item_ids:
            await self.sender.error("invalid_value", f"Item with id '{item['id']}' already exists.",
                                    param="item.id", client_event_id=eid)  # fmt: skip
            return
        if item["type"] == "message" and item.get("role") not in ("user", "assistant", "system"):
            await self.sender.error("invalid_value", "Invalid 'item.role'.", param="item.role", client_event_id=eid)
            return
        if item["type"] == "function_call_output":
            call_id = str(item.get("call_id") or "")
            known = {i.get("call_id") for i in self.record.items if i.get("type") == "function_call"}
            if self.emulator.config.strict and call_id not in known:
                await self.sender.error("invalid_value", f"Tool call ID '{call_id}' not found in conversation.",
                                        param="item.call_id", client_event_id=eid)  # fmt: skip
                return
        previous_id = event.get("previous_item_id")
        if previous_id is not None and previous_id != "root" and previous_id not in self._item_ids:
            await self.sender.error("invalid_value", f"Previous item with id '{previous_id}' not found.",
                                    param="previous_item_id", client_event_id=eid)  # fmt: skip
            return
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        previous = self.add_item(item, after=previous_id if previous_id != "root" else None,
                                 root=previous_id == "root")  # fmt: skip
        self.record.created_items.append(copy.deepcopy(item))
        if item["type"] == "function_call_output":
            output = str(item.get("output", ""))
            call_id = str(item.get("call_id") or "")
            self.record.function_call_outputs.append(FunctionCallOutputRecord(call_id, output, time.monotonic()))
            self._tool_outputs[call_id] = output
            name = next((i.get("name") for i in self.record.items if i.get("type") == "function_call"
                         and i.get("call_id") == call_id), None)  # fmt: skip
            if name:
                self._tool_outputs[str(name)] = output
            self._last_tool_output = output
        elif item["type"] == "message" and item.get("role") == "user":
            texts = [c.get("text") for c in item.get("content") or [] if isinstance(c, dict) and c.get("text")]
            if texts:
                self._last_user_text = " ".join(str(t) for t in texts)
        await self.sender.send({"type": self.names.item_added, "previous_item_id": previous, "item": item})
        if self.names.item_done is not None:
            await self.sender.send({"type": self.names.item_done, "previous_item_id": previous, "item": item})

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._item_ids:
            await self.sender.error("invalid_value", f"Item with id '{item_id}' not found.", param="item_id",
                                    client_event_id=event.get("event_id"))  # fmt: skip
            return
        index = self._item_ids.index(item_id)
        del self._item_ids[index]
        del self.record.items[index]
        await self.sender.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self.record.item(str(event.get("item_id")))
        if item is None:
            await self.sender.error("invalid_value", f"Item with id '{event.get('item_id')}' not found.",
                                    param="item_id", client_event_id=event.get("event_id"))  # fmt: skip
            return
        await self.sender.send({"type": "conversation.item.retrieved", "item": item})

    async def _on_truncate(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item_id = str(event.get("item_id"))
        content_index = event.get("content_index", 0)
        end_ms = event.get("audio_end_ms")
        out = self.engine.outputs_by_item.get(item_id)
        if self.record.item(item_id) is None and out is None:
            await self.sender.error("invalid_value", f"Item with id '{item_id}' not found.", param="item_id",
                                    client_event_id=eid)  # fmt: skip
            return
        if out is None or out.kind != "message" or not out.pcm:
            await self.sender.error("invalid_value", "Only assistant messages with audio can be truncated.",
                                    param="item_id", client_event_id=eid)  # fmt: skip
            return
        if content_index != 0:
            await self.sender.error("invalid_value", f"Invalid content_index: {content_index}.",
                                    param="content_index", client_event_id=eid)  # fmt: skip
            return
        if not isinstance(end_ms, int) or isinstance(end_ms, bool) or end_ms < 0:
            await self.sender.error("invalid_value", "Invalid 'audio_end_ms'.", param="audio_end_ms",
                                    client_event_id=eid)  # fmt: skip
            return
        if end_ms > out.sent_ms + 1:
            await self.sender.error(
                "invalid_value", f"Audio content of {out.sent_ms:.0f}ms is already shorter than {end_ms}ms",
                param="audio_end_ms", client_event_id=eid,
            )  # fmt: skip
            return
        self.record.truncates.append(TruncateRecord(item_id, content_index, end_ms, out.sent_ms, time.monotonic()))
        await self.sender.send({"type": "conversation.item.truncated", "item_id": item_id,
                                "content_index": content_index, "audio_end_ms": end_ms})  # fmt: skip

    # ---- responses -------------------------------------------------------------------------------------------

    def reply_context(self, request: dict[str, Any]) -> ReplyContext:
        return ReplyContext(
            response_index=len(self.record.responses),
            user_transcript=self._last_user_text,
            tool_output=self._last_tool_output,
            tool_outputs=dict(self._tool_outputs),
            instructions=self.settings.instructions,
            response_instructions=request.get("instructions"),
        )

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        active = self.engine.active
        if active is not None:
            await self.sender.error(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.record.response_id}. "
                "Wait until the response is finished before creating a new one.",
                client_event_id=event.get("event_id"),
            )
            return
        request = event.get("response")
        await self.engine.start("response.create", request if isinstance(request, dict) else {})

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        active = self.engine.active
        wanted = event.get("response_id")
        if active is None or active.finishing or (wanted and wanted != active.record.response_id):
            await self.sender.error("response_cancel_not_active", "Cancellation failed: no active response found",
                                    client_event_id=event.get("event_id"))  # fmt: skip
            return
        await self.engine.cancel("client_cancelled")

    async def _on_ignored(self, event: dict[str, Any]) -> None:
        """Accepted and recorded, nothing to do over a WebSocket (``output_audio_buffer.clear`` is WebRTC-only)."""

    # ---- bench mode ------------------------------------------------------------------------------------------

    async def _bench_loop(self) -> None:
        """Back-to-back replies at a steady cadence once the caller's audio starts flowing (no VAD)."""
        assert self.bench is not None
        await self._bench_audio.wait()
        say = Say(duration_ms=self.bench.reply_ms)
        while not self.sender.closed:
            active = self.engine.active
            if active is None:
                try:
                    active = await self.engine.start("bench", {}, step=say)
                except ConnectionGone:
                    return
            await active.finished.wait()
            await asyncio.sleep(self.bench.gap_ms / 1000)

    @property
    def dialect(self) -> Dialect:
        return self.settings.dialect
