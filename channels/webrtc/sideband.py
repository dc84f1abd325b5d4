"""The gateway's own control socket on a browser's WebRTC call (the provider's "sideband": ``/realtime?call_id=``).

The page holds the media and a data channel, and anything it sends there reaches the model; so nothing the page
says is trusted. The gateway holds the agent instead: through this socket it sees every event of the session,
runs the tools the model calls and moves the scenario on (prompt chaining), speaks the greeting, and records the
transcripts it saw here, never the page's reports. A ``session.update`` the gateway did not send (the page trying
to rewrite the agent) is undone at once, and a page that keeps at it is hung up on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import openai

from gateway.api import run_tool
from gateway.engines.providers import RealtimeTarget
from gateway.engines.realtime_socket import CONNECTION_OPTIONS
from gateway.events import SessionError, TranscriptFinal
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway
from gateway.tools.mcp_source import native_mcp_tools, profile_tool_names

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
PAGE_READY_TIMEOUT_S = 5.0
MAX_RESTORES = 5  # session rewrites undone before the call is ended as tampered with
USER_DONE = "conversation.item.input_audio_transcription.completed"
ASSISTANT_DONE = {
    "response.output_audio_transcript.done": "transcript",
    "response.audio_transcript.done": "transcript",
    "response.output_text.done": "text",
    "response.text.done": "text",
}
ASSISTANT_DELTA = ("response.output_audio_transcript.delta", "response.audio_transcript.delta", "response.output_text.delta", "response.text.delta")
CUT = "…"  # a reply that ended before its transcript did (an interruption): stored as far as it got, marked


class Sideband:
    """One call's control socket. ``run`` until the call ends. ``on_end(outcome)`` is called when the gateway must end
    the session itself (tampering, its socket failed); a call the provider closed is ended by the page's report of
    it, or by the reaper if the page went silent (the page tells a dropped call from a hang-up)."""

    def __init__(
        self,
        gw: Gateway,
        target: RealtimeTarget,
        session_id: str,
        profile: AgentProfile,
        call_id: str,
        caller: str,
        on_end: Callable[[str], None],
    ) -> None:
        self.gw = gw
        self.target = target
        self.session_id = session_id
        self.profile = profile
        self.call_id = call_id
        self.caller = caller
        self.on_end = on_end
        self.page_ready = asyncio.Event()
        self.step: str | None = None
        self.restores = 0
        self._allowed = set(profile_tool_names(gw.registry, profile.tools, profile.mcp_servers))
        self._pending: dict[str, list[asyncio.Task[tuple[str, dict[str, Any], str | None]]]] = {}
        self._partial: dict[str, tuple[str, str]] = {}  # item id → (response id, the reply's words so far)
        self._conn: Any = None

    # --- what the gateway holds --------------------------------------------------------------------------------
    @property
    def instructions(self) -> str:
        return self.profile.instructions(self.step) if self.step else self.profile.instructions()

    def _session(self, with_tools: bool) -> dict[str, Any]:
        """A ``session.update`` body: the instructions of the current step, and the tools when restoring them."""
        session: dict[str, Any] = {"instructions": self.instructions} if self.target.beta else {"type": "realtime", "instructions": self.instructions}
        if with_tools:
            session["tools"] = self.gw.registry.realtime_schemas(sorted(self._allowed)) + native_mcp_tools(
                self.gw.settings.mcp_servers, self.profile.mcp_servers
            )
        return session

    async def _send(self, event: dict[str, Any]) -> None:
        await self._conn.send(event)

    # --- the socket --------------------------------------------------------------------------------------------
    async def run(self) -> None:
        with session_context(self.session_id):
            outcome = "completed"
            try:
                realtime = self.target.client.realtime
                model = {"model": self.target.model} if self.target.beta else {}  # the Azure preview client wants one
                connect = realtime.connect(call_id=self.call_id, websocket_connection_options=CONNECTION_OPTIONS, **model)
                self._conn = await asyncio.wait_for(connect.enter(), timeout=CONNECT_TIMEOUT_S)
                logger.info("sideband open on provider call %s", self.call_id)
                greeter = asyncio.create_task(self._greet(), name=f"greet-{self.session_id}")
                try:
                    outcome = await self._read()
                finally:
                    greeter.cancel()
                    await asyncio.gather(greeter, return_exceptions=True)
            except (TimeoutError, OSError, openai.OpenAIError) as exc:
                logger.error("sideband on provider call %s failed: %s", self.call_id, type(exc).__name__)
                self.gw.hub.publish(self.session_id, SessionError("the gateway lost its control of the call", True))
                outcome = "error"
            finally:
                for tasks in self._pending.values():
                    for task in tasks:
                        task.cancel()
                if self._conn is not None:
                    await self._conn.close()
            if outcome != "completed":
                self.on_end(outcome)

    async def _greet(self) -> None:
        """The agent speaks first, as on the phone, once the page can hear it (or after a short wait)."""
        directive = self.profile.greeting_directive()
        if not directive:
            return
        try:
            await asyncio.wait_for(self.page_ready.wait(), timeout=PAGE_READY_TIMEOUT_S)
        except TimeoutError:
            logger.info("the page did not say it was connected; greeting anyway")
        await self._send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "system", "content": [{"type": "input_text", "text": directive}]}})  # fmt: skip
        await self._send({"type": "response.create"})

    async def _read(self) -> str:
        while True:
            try:
                raw = await self._conn.recv_bytes()
            except Exception as exc:  # the provider closed the socket: the call is over
                logger.info("sideband closed (%s)", type(exc).__name__)
                return "completed"
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict) and await self._on_event(event):
                return "tampered"

    async def _on_event(self, event: dict[str, Any]) -> bool:
        """Handle one event; True when the call must end."""
        kind = str(event.get("type"))
        if kind in ("session.created", "session.updated"):
            return await self._check_session(event.get("session") or {})
        if kind == USER_DONE:
            self._record("user", event.get("transcript"), event.get("item_id"))
        elif kind in ASSISTANT_DELTA:
            item = str(event.get("item_id"))
            said = self._partial.get(item, ("", ""))[1]
            self._partial[item] = (str(event.get("response_id")), said + str(event.get("delta") or ""))
        elif kind in ASSISTANT_DONE:
            self._partial.pop(str(event.get("item_id")), None)
            self._record("assistant", event.get(ASSISTANT_DONE[kind]), event.get("item_id"))
        elif kind == "response.function_call_arguments.done":
            task = asyncio.create_task(self._tool(event), name=f"tool-{self.session_id}")
            self._pending.setdefault(str(event.get("response_id")), []).append(task)
        elif kind == "response.done":
            response = event.get("response") or {}
            self._record_cut(str(response.get("id")))
            tasks = self._pending.pop(str(response.get("id")), None)
            if tasks:
                await self._answer(tasks)
        elif kind == "error":
            error = event.get("error") or {}
            if error.get("code") not in ("conversation_already_has_active_response", "response_cancel_not_active"):
                logger.warning("provider error on the call: %s", str(error.get("message"))[:200])
        return False

    def _record_cut(self, response_id: str) -> None:
        """A response that ended (cancelled by an interruption) with a reply whose transcript never finished."""
        for item, (rid, said) in list(self._partial.items()):
            if rid == response_id:
                del self._partial[item]
                if said.strip():
                    self._record("assistant", said.rstrip() + CUT, item)

    def _record(self, role: str, text: object, item_id: object) -> None:
        if isinstance(text, str) and text.strip():
            self.gw.hub.publish(self.session_id, TranscriptFinal(role, text, str(item_id or "")))

    async def _check_session(self, session: dict[str, Any]) -> bool:
        """The session must be the gateway's: its instructions and tools. Anything else is undone."""
        names = {t.get("name") for t in session.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"}
        instructions = str(session.get("instructions") or "")
        if instructions.strip() == self.instructions.strip() and names <= self._allowed:
            return False
        self.restores += 1
        logger.warning("the session was changed from outside the gateway (restore %d); putting it back", self.restores)
        if self.restores > MAX_RESTORES:
            logger.error("the page keeps rewriting its agent; ending the call")
            return True
        await self._send({"type": "response.cancel"})
        await self._send({"type": "session.update", "session": self._session(with_tools=True)})
        return False

    async def _tool(self, event: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
        name, call_id = str(event.get("name") or ""), str(event.get("call_id") or "")
        if name not in self._allowed:
            logger.warning("model asked for %s, not a tool of agent %s", name, self.profile.name)
            return call_id, {"ok": False, "error": {"code": "not_allowed", "message": f"There is no tool {name!r}."}}, None
        ctx = self.gw.agent_setup(self.session_id, "webrtc", self.caller, self.profile).tool_context
        outcome = await run_tool(self.gw, ctx, name, str(event.get("arguments") or "{}"), call_id)
        return call_id, outcome.output, outcome.next_step

    async def _answer(self, tasks: list[asyncio.Task[tuple[str, dict[str, Any], str | None]]]) -> None:
        """Every output of one response, the next step if a tool named one, then one reply for all of them."""
        results = await asyncio.gather(*tasks)
        for call_id, output, next_step in results:
            if next_step and next_step in self.profile.steps:
                self.step = next_step
            await self._send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call_id, "output": json.dumps(output, ensure_ascii=False)}})  # fmt: skip
        if any(next_step and next_step in self.profile.steps for _c, _o, next_step in results):
            logger.info("scenario moves to step %s", self.step)
            await self._send({"type": "session.update", "session": self._session(with_tools=False)})
        await self._send({"type": "response.create"})
