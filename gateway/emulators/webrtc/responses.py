"""Responses of the emulated model on a WebRTC call: spoken replies on the audio track, function calls as events.

Over WebRTC the service sends no audio deltas on the data channel: the audio goes out on the RTP track and the
channel carries the transcript and ``output_audio_buffer.started/stopped`` around it. ``response.done`` comes
when generation ends, before playout does, as with the real service.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gateway.emulators.realtime.script import CallTool, ReplyContext, Say
from gateway.emulators.realtime.voice import render
from gateway.emulators.realtime.wire import new_id

from .media import to_48k
from .records import ResponseLog

if TYPE_CHECKING:
    from .call import EmulatedCall

logger = logging.getLogger(__name__)

DELTA_EVERY_MS = 250


def _split(text: str, parts: int) -> list[str]:
    parts = max(1, min(parts, len(text) or 1))
    cuts = [len(text) * i // parts for i in range(parts + 1)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]


class Responder:
    """Runs one response at a time for a call, following the call's script cursor."""

    def __init__(self, call: EmulatedCall) -> None:
        self.call = call
        self.task: asyncio.Task[None] | None = None
        self.log: ResponseLog | None = None
        self.tool_outputs: dict[str, str] = {}
        self.last_tool_output: str | None = None
        self.last_user_text: str | None = None

    @property
    def active(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, trigger: str, request: dict[str, Any]) -> bool:
        """Begin the next scripted response; False when one is already in progress."""
        if self.active:
            return False
        cursor = self.call.cursor
        step = cursor.resolve(cursor.next_step(), ReplyContext(response_index=len(self.call.record.responses)))
        rid = new_id("resp")
        kind = "function_call" if isinstance(step, CallTool) else "message"
        self.log = ResponseLog(rid, trigger, kind, request=dict(request))
        self.call.record.responses.append(self.log)
        self.task = asyncio.create_task(self._run(step, self.log), name=f"webrtc-response-{rid}")
        return True

    async def cancel(self, reason: str) -> None:
        """Stop the response in progress and its audio (barge-in or ``response.cancel``)."""
        task, log = self.task, self.log
        playing = self.call.voice.playing
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if playing:
            self.call.voice.clear()
            self.call.send({"type": "output_audio_buffer.cleared", "response_id": log.response_id if log else None})
        if log is not None and log.status == "in_progress":
            log.status = "cancelled"
            self.call.send({"type": "response.done", "response": self._response(log, "cancelled", [], reason)})

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    # ---- one response ----------------------------------------------------------------------------------------

    async def _run(self, step: Say | CallTool, log: ResponseLog) -> None:
        self.call.send({"type": "response.created", "response": self._response(log, "in_progress", [])})
        if isinstance(step, CallTool):
            await self._function_call(step, log)
        else:
            await self._say(step, log)

    def _context(self, log: ResponseLog) -> ReplyContext:
        return ReplyContext(
            response_index=len(self.call.record.responses) - 1,
            user_transcript=self.last_user_text,
            tool_output=self.last_tool_output,
            tool_outputs=dict(self.tool_outputs),
            instructions=self.call.settings.instructions,
            response_instructions=(log.request.get("instructions") if log.request else None),
        )

    async def _say(self, step: Say, log: ResponseLog) -> None:
        call, names = self.call, self.call.names
        text = step.render_text(self._context(log))
        pcm24 = render(step.audio_clips(), step.duration_ms)
        duration_ms = len(pcm24) / 48
        item_id = new_id("item")
        rid = log.response_id
        where = {"response_id": rid, "item_id": item_id, "output_index": 0}
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress",
                                "role": "assistant", "content": []}  # fmt: skip
        call.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": dict(item)})
        call.send({"type": names.item_added, "previous_item_id": None, "item": dict(item)})
        call.send({"type": "response.content_part.added", **where, "content_index": 0,
                   "part": {"type": names.audio_part, "transcript": ""}})  # fmt: skip
        played = call.voice.play(to_48k(pcm24))
        call.send({"type": "output_audio_buffer.started", "response_id": rid})
        deltas = _split(text, int(duration_ms // DELTA_EVERY_MS))
        pause = duration_ms / 2 / 1000 / max(1, len(deltas))  # the transcript runs ahead of playout, as it does
        for delta in deltas:
            call.send({"type": names.transcript_delta, **where, "content_index": 0, "delta": delta})
            await asyncio.sleep(pause)
        log.transcript = text
        log.audio_ms = duration_ms
        call.send({"type": names.audio_done, **where, "content_index": 0})
        call.send({"type": names.transcript_done, **where, "content_index": 0, "transcript": text})
        part = {"type": names.audio_part, "transcript": text}
        call.send({"type": "response.content_part.done", **where, "content_index": 0, "part": part})
        item.update(status="completed", content=[part])
        call.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": item})
        log.status = "completed"
        call.send({"type": "response.done", "response": self._response(log, "completed", [item])})
        await played
        call.record.audio_out_ms += duration_ms
        call.send({"type": "output_audio_buffer.stopped", "response_id": rid})

    async def _function_call(self, step: CallTool, log: ResponseLog) -> None:
        call = self.call
        rid, item_id = log.response_id, new_id("item")
        call_id = step.call_id or new_id("call")
        args = step.arguments_json
        log.call_id, log.name, log.arguments = call_id, step.name, args
        call.expected_calls.add(call_id)
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "function_call", "status": "in_progress",
                                "call_id": call_id, "name": step.name, "arguments": ""}  # fmt: skip
        where = {"response_id": rid, "item_id": item_id, "output_index": 0, "call_id": call_id}
        call.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0, "item": dict(item)})
        call.send({"type": "response.function_call_arguments.delta", **where, "delta": args})
        call.send({"type": "response.function_call_arguments.done", **where, "name": step.name, "arguments": args})
        item.update(status="completed", arguments=args)
        call.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0, "item": item})
        log.status = "completed"
        call.send({"type": "response.done", "response": self._response(log, "completed", [item])})

    def _response(
        self, log: ResponseLog, status: str, output: list[dict[str, Any]], reason: str | None = None
    ) -> dict[str, Any]:
        details = {"type": status, "reason": reason} if reason else None
        return {"object": "realtime.response", "id": log.response_id, "status": status, "status_details": details,
                "output": output, "conversation_id": self.call.conversation_id,
                "output_modalities": ["audio"], "metadata": None, "usage": None}  # fmt: skip
