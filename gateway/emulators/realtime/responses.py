"""Producing responses: the event sequence for spoken replies and function calls, paced like the service.

A response is planned from the script step up front (transcript text and real audio), announced with
``response.created``, then streamed by its own task so the session keeps reading client events (a barge-in or
``response.cancel`` must stop the audio at once, which cancelling the task does between two deltas).
Audio deltas are built with a string template from pre-encoded chunks: this is the hottest path of the
benchmark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import voice
from .dialect import Dialect, names
from .records import CancelRecord, OutputRecord, ResponseRecord
from .script import CallTool, ReplyContext, Say, Step
from .wire import ConnectionGone, new_id

if TYPE_CHECKING:
    from .session import RealtimeSession

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class PlannedOutput:
    """One output item to produce: a message (text + audio) or a function call."""

    kind: str
    text: str = ""
    pcm: bytes = b""
    name: str = ""
    arguments: str = ""
    call_id: str = ""


@dataclass(slots=True)
class ActiveResponse:
    """A response in flight: its record, the task streaming it, and the item being streamed (for cancels)."""

    record: ResponseRecord
    in_conversation: bool
    audio: bool
    voice: Any
    modalities: list[str]
    metadata: Any = None
    task: asyncio.Task[None] | None = None
    current: OutputRecord | None = None
    current_item: dict[str, Any] | None = None
    current_index: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    finishing: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)


def plan_step(step: Say | CallTool, ctx: ReplyContext) -> list[PlannedOutput]:
    """Turn a script step into the outputs of one response."""
    if isinstance(step, Say):
        return [_plan_say(step, ctx)]
    outputs = [_plan_say(step.preamble, ctx)] if step.preamble is not None else []
    call_id = step.call_id or new_id("call")
    outputs.append(PlannedOutput("function_call", name=step.name, arguments=step.arguments_json, call_id=call_id))
    return outputs


def _plan_say(say: Say, ctx: ReplyContext) -> PlannedOutput:
    return PlannedOutput("message", text=say.render_text(ctx), pcm=voice.render(say.audio_clips(), say.duration_ms))


class ResponseEngine:
    """Starts, streams and cancels the responses of one session (at most one at a time, like the service)."""

    def __init__(self, session: RealtimeSession) -> None:
        self.session = session
        self.names = names(session.settings.dialect)
        self.dialect = session.settings.dialect
        self.active: ActiveResponse | None = None
        self.outputs_by_item: dict[str, OutputRecord] = {}
        self.conversation_id = new_id("conv")

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def start(self, trigger: str, request: dict[str, Any], step: Step | None = None) -> ActiveResponse:
        """Announce a response (``response.created`` goes out before this returns) and start streaming it."""
        session = self.session
        settings = session.settings
        ctx = session.reply_context(request)
        if step is None:
            step = session.cursor.next_step()
        plan = plan_step(session.cursor.resolve(step, ctx), ctx)
        rid = new_id("resp")
        modalities = list(request.get("output_modalities") or request.get("modalities") or settings.output_modalities)
        req_audio = request.get("audio") if isinstance(request.get("audio"), dict) else {}
        voice_ = ((req_audio.get("output") or {}).get("voice") if req_audio else None) or request.get("voice")
        record = ResponseRecord(
            response_id=rid,
            trigger=trigger,
            created_at=time.monotonic(),
            request=request,
            instructions=request.get("instructions"),
        )
        active = ActiveResponse(
            record=record,
            in_conversation=request.get("conversation", "auto") != "none",
            audio="audio" in modalities,
            voice=voice_ or settings.voice,
            modalities=modalities,
            metadata=request.get("metadata"),
        )
        session.record.responses.append(record)
        self.active = active
        await session.sender.send({"type": "response.created", "response": self.response_object(active)})
        active.task = asyncio.create_task(self._run(active, plan), name=f"realtime-{rid}")
        logger.debug("session %s: response %s (%s) started", session.record.session_id, rid, trigger)
        return active

    async def cancel(self, reason: str) -> ActiveResponse | None:
        """Stop the in-flight response now and report it cancelled; ``None`` when nothing was in flight."""
        active = self.active
        if active is None or active.finishing:
            return None
        self.active = None
        if active.task is not None:
            active.task.cancel()
            await asyncio.wait({active.task})
        rec = active.record
        rec.status, rec.reason, rec.done_at = "cancelled", reason, time.monotonic()
        sent_ms = sum(o.sent_ms for o in rec.outputs if o.kind == "message")
        self.session.record.cancels.append(CancelRecord(rec.response_id, reason, sent_ms, time.monotonic()))
        if active.current is not None and active.current_item is not None:
            active.current.status = "incomplete"
            item = active.current_item
            item["status"] = "incomplete"
            if active.current.kind == "message":
                item["content"] = [self._part(active, active.current.transcript, done=True)]
            await self._output_item_done(active, active.current_index, item)
        await self.session.sender.send(
            {
                "type": "response.done",
                "response": self.response_object(
                    active, status="cancelled", details={"type": "cancelled", "reason": reason}
                ),
            }
        )
        active.finished.set()
        logger.info("session %s: response %s cancelled (%s)", self.session.record.session_id, rec.response_id, reason)
        return active

    async def abort(self) -> None:
        """Stop streaming without telling the client (the connection is going away)."""
        active, self.active = self.active, None
        if active is not None and active.task is not None:
            active.task.cancel()
            await asyncio.wait({active.task})
            active.record.status = "aborted"
            active.finished.set()

    # ---- streaming -------------------------------------------------------------------------------------------

    async def _run(self, active: ActiveResponse, plan: list[PlannedOutput]) -> None:
        try:
            delay = self.session.pacing.first_audio_delay_ms / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            for index, planned in enumerate(plan):
                if planned.kind == "message":
                    await self._stream_message(active, index, planned)
                else:
                    await self._stream_call(active, index, planned)
            active.finishing = True
            rec = active.record
            rec.status, rec.done_at = "completed", time.monotonic()
            await self.session.sender.send({"type": "response.done", "response": self.response_object(active)})
            if self.active is active:
                self.active = None
            active.finished.set()
        except asyncio.CancelledError:
            raise
        except ConnectionGone:
            logger.debug("session %s: connection gone mid-response", self.session.record.session_id)
            if self.active is active:
                self.active = None
            active.record.status = "aborted"
            active.finished.set()
        except Exception:
            logger.exception("session %s: response failed", self.session.record.session_id)
            if self.active is active:
                self.active = None
            active.finished.set()

    async def _begin_item(self, active: ActiveResponse, index: int, item: dict[str, Any], out: OutputRecord) -> None:
        sender = self.session.sender
        active.record.outputs.append(out)
        self.outputs_by_item[out.item_id] = out
        await sender.send(
            {"type": "response.output_item.added", "response_id": active.record.response_id,
             "output_index": index, "item": dict(item)}
        )  # fmt: skip
        active.current, active.current_item, active.current_index = out, item, index
        if active.in_conversation:
            previous = self.session.add_item(item)
            await sender.send({"type": self.names.item_added, "previous_item_id": previous, "item": dict(item)})

    async def _output_item_done(self, active: ActiveResponse, index: int, item: dict[str, Any]) -> None:
        sender = self.session.sender
        await sender.send(
            {"type": "response.output_item.done", "response_id": active.record.response_id,
             "output_index": index, "item": item}
        )  # fmt: skip
        active.items.append(item)
        active.current = active.current_item = None
        if active.in_conversation and self.names.item_done is not None:
            previous = self.session.previous_item_id(item["id"])
            await sender.send({"type": self.names.item_done, "previous_item_id": previous, "item": item})

    def _part(self, active: ActiveResponse, text: str, done: bool) -> dict[str, Any]:
        if active.audio:
            return {"type": self.names.audio_part, "transcript": text if done else ""}
        return {"type": self.names.text_part, "text": text if done else ""}

    async def _stream_message(self, active: ActiveResponse, index: int, planned: PlannedOutput) -> None:
        session = self.session
        sender = session.sender
        rid = active.record.response_id
        item_id = new_id("item")
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message",
                                "status": "in_progress", "role": "assistant", "content": []}  # fmt: skip
        out = OutputRecord(item_id=item_id, kind="message", pcm=planned.pcm if active.audio else b"")
        await self._begin_item(active, index, item, out)
        ids = {"response_id": rid, "item_id": item_id, "output_index": index, "content_index": 0}
        await sender.send({"type": "response.content_part.added", **ids, "part": self._part(active, "", False)})
        text = planned.text
        if active.audio:
            await self._stream_audio(active, out, index, text)
            await sender.send({"type": self.names.audio_done, **ids})
            await sender.send({"type": self.names.transcript_done, **ids, "transcript": text})
        else:
            for piece in _split(text, max(1, len(text) // 8)):
                out.transcript += piece
                await sender.send({"type": self.names.text_delta, **ids, "delta": piece})
            await sender.send({"type": self.names.text_done, **ids, "text": text})
        out.transcript = text
        await sender.send({"type": "response.content_part.done", **ids, "part": self._part(active, text, True)})
        out.status = "completed"
        item["status"] = "completed"
        item["content"] = [self._part(active, text, True)]
        await self._output_item_done(active, index, item)

    async def _stream_audio(self, active: ActiveResponse, out: OutputRecord, index: int, text: str) -> None:
        session = self.session
        sender = session.sender
        pacing = session.pacing
        audio = voice.spoken(out.pcm, pacing.chunk_ms, session.settings.output_codec)
        n = len(audio.chunks_b64)
        head = (
            f'{{"type":"{self.names.audio_delta}","event_id":"%s","response_id":"{active.record.response_id}",'
            f'"item_id":"{out.item_id}","output_index":{index},"content_index":0,"delta":"'
        )
        ids = {"response_id": active.record.response_id, "item_id": out.item_id, "output_index": index,
               "content_index": 0}  # fmt: skip
        interval = pacing.chunk_interval_s
        tap, tag = session.tap, session.record.index
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        said = 0
        for i, (chunk, size) in enumerate(zip(audio.chunks_b64, audio.chunk_sizes, strict=True)):
            if interval:
                wait = t0 + i * interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            elif i % 16 == 15:
                await asyncio.sleep(0)
            if tap is not None:
                chunk = tap.outbound(tag, chunk)
            await sender.send_text(self.names.audio_delta, (head % sender.next_event_id()) + chunk + '"}')
            out.sent_bytes += size
            upto = len(text) * (i + 1) // n
            if upto > said:
                piece, said = text[said:upto], upto
                out.transcript += piece
                await sender.send({"type": self.names.transcript_delta, **ids, "delta": piece})
            plan = session.emulator.faults.take_drop(out.sent_ms)
            if plan is not None:
                logger.info("session %s: fault: dropping mid-response", session.record.session_id)
                session.request_drop(plan.code)
                await asyncio.Event().wait()  # the session cancels this task while it drops the socket

    async def _stream_call(self, active: ActiveResponse, index: int, planned: PlannedOutput) -> None:
        sender = self.session.sender
        rid = active.record.response_id
        item_id = new_id("item")
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "function_call",
                                "status": "in_progress", "name": planned.name, "call_id": planned.call_id,
                                "arguments": ""}  # fmt: skip
        out = OutputRecord(item_id=item_id, kind="function_call", call_id=planned.call_id, name=planned.name,
                           arguments=planned.arguments)  # fmt: skip
        await self._begin_item(active, index, item, out)
        ids = {"response_id": rid, "item_id": item_id, "output_index": index, "call_id": planned.call_id}
        for piece in _split(planned.arguments, 3):
            await sender.send({"type": "response.function_call_arguments.delta", **ids, "delta": piece})
        await sender.send(
            {"type": "response.function_call_arguments.done", **ids, "name": planned.name,
             "arguments": planned.arguments}
        )  # fmt: skip
        out.status = "completed"
        item["status"] = "completed"
        item["arguments"] = planned.arguments
        await self._output_item_done(active, index, item)

    # ---- wire objects ----------------------------------------------------------------------------------------

    def response_object(
        self, active: ActiveResponse, status: str | None = None, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        rec = active.record
        status = status or rec.status
        done = status != "in_progress"
        obj: dict[str, Any] = {
            "object": "realtime.response",
            "id": rec.response_id,
            "status": status,
            "status_details": details,
            "output": list(active.items) if done else [],
            "conversation_id": self.conversation_id if active.in_conversation else None,
        }
        if self.dialect is Dialect.GA:
            obj["output_modalities"] = active.modalities
            obj["max_output_tokens"] = "inf"
            obj["audio"] = {"output": {"format": self.session.settings.output_format_echo, "voice": active.voice}}
        else:
            obj["modalities"] = active.modalities
            obj["voice"] = active.voice
            obj["output_audio_format"] = self.session.settings.output_format_echo
            obj["temperature"] = 0.8
            obj["max_output_tokens"] = "inf"
        obj["usage"] = self._usage(active) if done else None
        obj["metadata"] = active.metadata
        return obj

    def _usage(self, active: ActiveResponse) -> dict[str, Any]:
        """Plausible token counts (about 10 audio tokens per input second, 20 per output second)."""
        out_audio = int(sum(o.sent_ms for o in active.record.outputs) / 50)
        out_text = sum(len(o.transcript) + len(o.arguments or "") for o in active.record.outputs) // 2 + 1
        in_audio = int(self.session.record.audio_in.duration_ms / 100)
        in_text = len(self.session.settings.instructions) // 4 + 1
        return {
            "total_tokens": in_audio + in_text + out_audio + out_text,
            "input_tokens": in_audio + in_text,
            "output_tokens": out_audio + out_text,
            "input_token_details": {
                "text_tokens": in_text, "audio_tokens": in_audio, "image_tokens": 0, "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }  # fmt: skip


def _split(text: str, parts: int) -> list[str]:
    """Cut ``text`` into at most ``parts`` non-empty pieces (deltas)."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    cuts = [len(text) * i // parts for i in range(parts + 1)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
