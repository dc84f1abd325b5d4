"""The Realtime engine: one WebSocket session with OpenAI / Azure OpenAI per conversation, through the openai SDK.

Tool calls run here through the shared registry (the result goes back as ``function_call_output`` and a new response
is requested); a tool result naming the next scenario step updates the live session's instructions. If the socket
drops mid-call, the session reconnects and restores the conversation (instructions, transcript, tool results) so
the caller only notices a pause.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from websockets.exceptions import ConnectionClosed

from ..events import (
    EngineEvent,
    EngineReconnected,
    InstructionsChanged,
    ResponseDone,
    SessionError,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptFinal,
)
from ..tools.mcp_source import mcp_tool_names, native_mcp_tools
from .base import AgentSetup, EngineUnavailable
from .providers import RealtimeTarget
from .realtime_socket import ProviderSocket, open_provider_socket
from .realtime_wire import FunctionCall, ProviderError, audio_append, message_item, parse_server_event, session_config

logger = logging.getLogger(__name__)
_END = object()


class RealtimeSession:
    rate = 24_000
    sample_width = 2  # bytes per sample of the audio both ways (1 for μ-law)

    def __init__(
        self,
        target: RealtimeTarget,
        setup: AgentSetup,
        *,
        connect_timeout: float = 10.0,
        reconnect_attempts: int = 4,
        reconnect_delay: float = 0.25,
        audio_format: str = "pcm",
    ) -> None:
        self.target = target
        self.audio_format = audio_format  # "pcmu": μ-law 8 kHz both ways, passed through from a telephone carrier
        if audio_format == "pcmu":
            self.rate, self.sample_width = 8_000, 1
        self.setup = setup
        self.profile = setup.profile
        self.connect_timeout = connect_timeout
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.step = setup.step or self.profile.first_step
        self.history: list[tuple[str, str]] = list(setup.history or [])
        self._agent_finals: deque[str] = deque(maxlen=16)  # agent items whose final transcript went out already
        self.dropped_frames = 0
        self.reconnects = 0
        self._conn: ProviderSocket | None = None
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._tool_tasks: set[asyncio.Task[None]] = set()
        self._calls_in_response = 0
        self._respond_when_tools_done = False
        self._reconnecting = False
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            self._conn = await self._open()
            await self._configure(restore=bool(self.history))
        except Exception as exc:
            raise EngineUnavailable(f"{self.target.provider} realtime: {type(exc).__name__}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_loop(), name=f"realtime-reader-{self.setup.session_id}")

    async def _open(self) -> ProviderSocket:
        return await asyncio.wait_for(open_provider_socket(self.target), timeout=self.connect_timeout)

    def _tools(self) -> list[dict[str, Any]]:
        settings, registry = self.setup.settings, self.setup.registry
        names = list(self.profile.tools) + mcp_tool_names(registry, self.profile.mcp_servers)
        return registry.realtime_schemas(names) + native_mcp_tools(settings.mcp_servers, self.profile.mcp_servers)

    async def _configure(self, restore: bool) -> None:
        settings = self.setup.settings
        session = session_config(
            self.profile,
            self.profile.instructions(self.step),
            self._tools(),
            voice=self.profile.voice or settings.openai_voice,
            transcription_model=settings.realtime_transcription_model,
            beta=self.target.beta,
            audio_format=self.audio_format,
        )
        await self._send({"type": "session.update", "session": session})
        if restore:
            for role, text in self.history:
                await self._send({"type": "conversation.item.create", "item": message_item(_item_role(role), text, self.target.beta)})

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tool_tasks):
            task.cancel()
        if self._conn is not None:
            try:
                await asyncio.wait_for(self._conn.close(), timeout=2)
            except Exception:  # closing a dead socket may fail in many ways; it is closed either way
                logger.debug("realtime close raised", exc_info=True)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, *self._tool_tasks, return_exceptions=True)
        self._events.put_nowait(_END)

    # --- sending --------------------------------------------------------------------------------------------------
    async def _send(self, event: dict[str, Any]) -> None:
        await self._conn.send_raw(json.dumps(event, ensure_ascii=False))

    async def _send_quietly(self, event: dict[str, Any]) -> None:
        """Send when connected; during a reconnect the restore step re-sends the state that matters."""
        if self._reconnecting or self._conn is None:
            return
        try:
            await self._send(event)
        except (ConnectionClosed, OSError):
            logger.info("provider socket closed while sending %s", event.get("type"))

    async def send_audio_b64(self, b64: str) -> None:
        conn = self._conn
        if conn is None or self._reconnecting:
            self.dropped_frames += 1
            return
        try:
            await conn.send_raw(audio_append(b64))
        except (ConnectionClosed, OSError):
            self.dropped_frames += 1

    async def respond(self, instructions: str | None = None) -> None:
        """``instructions`` are added to the current step's for this one response (e.g. how to greet)."""
        event: dict[str, Any] = {"type": "response.create"}
        if instructions:
            event["response"] = {"instructions": f"{self.profile.instructions(self.step)}\n\n{instructions}"}
        await self._send_quietly(event)

    async def add_message(self, role: str, text: str) -> None:
        self.history.append((role, text))
        await self._send_quietly({"type": "conversation.item.create", "item": message_item(_item_role(role), text, self.target.beta)})

    async def cancel_response(self) -> None:
        await self._send_quietly({"type": "response.cancel"})

    async def truncate(self, item_id: str, played_ms: int) -> None:
        if item_id:
            await self._send_quietly(
                {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": max(0, played_ms)}
            )

    # --- receiving ------------------------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._events.get()
            if event is _END:
                return
            yield event

    async def _read_loop(self) -> None:
        """Pump provider events until the socket ends. Whatever ends it, the event stream ends too (a reader that
        died silently left the call hanging forever): an unexpected failure is a fatal ``SessionError``, so the
        channel apologises and hangs up."""
        try:
            await self._read_events()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("the realtime session failed")
            self._events.put_nowait(SessionError(f"The AI session failed: {type(exc).__name__}", fatal=True))
        finally:
            self._events.put_nowait(_END)

    async def _read_events(self) -> None:
        while True:
            try:
                assert self._conn is not None
                raw = await self._conn.recv_bytes()
            except (ConnectionClosed, OSError) as exc:
                if self._closing:
                    return
                logger.warning("provider socket dropped mid-call (%s); reconnecting", type(exc).__name__)
                if await self._reconnect():
                    continue
                self._events.put_nowait(SessionError("The AI provider connection was lost and could not be restored.", fatal=True))
                return
            try:
                self._dispatch(raw)
            except (ValueError, KeyError, TypeError, AttributeError):  # not the shape the protocol promises
                logger.warning("unreadable provider event skipped: %.200r", raw)

    def _dispatch(self, raw: bytes) -> None:
        kind, event = parse_server_event(raw)
        if event is None:
            return
        if isinstance(event, FunctionCall):
            self._calls_in_response += 1
            task = asyncio.create_task(self._run_tool(event), name=f"tool-{event.name}")
            self._tool_tasks.add(task)
            task.add_done_callback(self._tool_tasks.discard)
            return
        if isinstance(event, ProviderError):
            logger.warning("provider error %s: %s", event.code, event.message)
            if event.code not in ("response_cancel_not_active", "conversation_already_has_active_response"):
                self._events.put_nowait(SessionError(f"provider: {event.message}"))
            return
        if isinstance(event, TranscriptFinal):
            if event.role == "assistant":
                if event.item_id and event.item_id in self._agent_finals:
                    return  # a cut-off item's own ``done`` after all: already reported
                self._agent_finals.append(event.item_id)
            if event.text:
                self.history.append((event.role, event.text))
        if isinstance(event, ResponseDone) and self._calls_in_response:
            self._calls_in_response = 0
            if any(not t.done() for t in self._tool_tasks):  # a finished task may not have left the set yet
                self._respond_when_tools_done = True
            else:
                self._schedule(self.respond())
        self._events.put_nowait(event)

    def _schedule(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tool_tasks.add(task)
        task.add_done_callback(self._tool_tasks.discard)

    async def _run_tool(self, call: FunctionCall) -> None:
        self._events.put_nowait(ToolCallStarted(call.call_id, call.name, call.arguments))
        outcome = await self.setup.registry.call(call.name, call.arguments, self.setup.tool_context)
        output = outcome.to_json()
        self._events.put_nowait(ToolCallFinished(call.call_id, call.name, call.arguments, outcome.ok, output, outcome.duration_ms))
        self.history.append(("system", f"[{call.name}({call.arguments}) → {output}]"))
        await self._send_quietly(
            {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": call.call_id, "output": output}}
        )
        if outcome.next_step and outcome.next_step in self.profile.steps and outcome.next_step != self.step:
            await self.move_to_step(outcome.next_step)
        others = [t for t in self._tool_tasks if t is not asyncio.current_task() and not t.done()]
        if self._respond_when_tools_done and not others:
            self._respond_when_tools_done = False
            await self.respond()

    async def move_to_step(self, step: str) -> None:
        """Prompt chaining: the live session continues on the instructions of the scenario's next step."""
        self.step = step
        instructions = self.profile.instructions(step)
        session: dict[str, Any] = {"instructions": instructions}
        if not self.target.beta:
            session["type"] = "realtime"
        await self._send_quietly({"type": "session.update", "session": session})
        self._events.put_nowait(InstructionsChanged(step))

    async def _reconnect(self) -> bool:
        self._reconnecting = True
        self._calls_in_response = 0
        self._events.put_nowait(ResponseDone("", "interrupted"))
        delay = self.reconnect_delay
        for attempt in range(1, self.reconnect_attempts + 1):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                self._conn = await self._open()
                self._reconnecting = False
                await self._configure(restore=True)
            except Exception as exc:  # any failure: try again until attempts run out
                self._reconnecting = True
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                continue
            self.reconnects += 1
            logger.info("provider session restored after %d attempt(s) with %d turns", attempt, len(self.history))
            self._events.put_nowait(EngineReconnected(attempt, len(self.history)))
            if self.history and self.history[-1][0] in ("user", "system"):
                await self.respond()  # the caller was waiting for an answer when the line dropped
            return True
        self._reconnecting = False
        return False


def _item_role(role: str) -> str:
    return role if role in ("user", "assistant") else "system"
