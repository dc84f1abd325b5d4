"""One Realtime WebSocket session: reads client events and answers them like the service.

It owns the connection, the session settings and all per-session state; the input side (audio buffer, VAD,
commits, user items) lives in ``input_audio.InputAudioMixin``, the conversation items in
``conversation.ConversationMixin``, and responses are delegated to ``ResponseEngine``. Client events are handled
one at a time in arrival order, as the service does, while response audio streams from its own task.
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

from .audio_format import InputDecoder
from .config import Pacing
from .conversation import ConversationMixin
from .dialect import Dialect, names
from .faults import abort_transport
from .handshake import Handshake
from .input_audio import APPEND, MIN_COMMIT_MS, InputAudioMixin
from .records import AudioLog, EventRecord, SessionRecord
from .responses import ResponseEngine
from .script import ReplyContext, Say
from .session_config import SessionError, SessionSettings
from .vad import EnergyVad, VadEvent
from .wire import ConnectionGone, EventSender, TextSocket, new_id

if TYPE_CHECKING:
    from .emulator import RealtimeEmulator

__all__ = ["APPEND", "MIN_COMMIT_MS", "CloseableSocket", "RealtimeSession"]

logger = logging.getLogger(__name__)


class CloseableSocket(TextSocket, Protocol):
    async def receive(self) -> str | bytes: ...
    async def close(self, code: int, reason: str = "") -> None: ...


class RealtimeSession(InputAudioMixin, ConversationMixin):
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
        self._decoder = InputDecoder(self.settings.input_codec)
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

    async def send_raw(self, text: str) -> None:
        """Put ``text`` on the socket as it is (a fault: an event the client may not be able to read)."""
        with contextlib.suppress(ConnectionGone):
            await self.sender.send_text("raw", text)

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
        if self.settings.input_codec != self._decoder.codec:
            self._decoder = InputDecoder(self.settings.input_codec)
        if self.vad is not None:
            self.vad.configure(self._vad_params())
            self._vad_on = self.settings.turn_detection is not None
            if not self._vad_on:
                self.vad.reset()
                self._speech = None
        await self.sender.send({"type": "session.updated", "session": self.settings.snapshot()})

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
