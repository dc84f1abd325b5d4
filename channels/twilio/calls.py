"""The live calls of the Twilio line: call keys by CallSid, signed stream URLs, and the calls' status."""

from __future__ import annotations

import asyncio
import logging
import time

from channels.telephony.call import PhoneCall, phone_session_id
from channels.telephony.registry import LiveCalls
from gateway.config import Settings
from gateway.engines.providers import ws_url
from gateway.events import CallProgress, Health
from gateway.logs import session_context
from gateway.services import Gateway
from gateway.store.outbound import OutboundRecords

from .control import TwilioControl
from .status import CallStatuses, StatusUpdate

logger = logging.getLogger(__name__)
TOKEN_PURPOSE = "twilio"
STREAM_WAIT_S = 90.0  # the greeting plays before the stream connects; a call whose stream never came is over
PARAMETER_PURPOSE = "twilio-stream-parameter"


def sid_key(call_sid: str) -> str:
    """The owner record's key for a call known by its CallSid (status callbacks and repeated Voice URL requests)."""
    return f"sid:{call_sid}"


class TwilioCalls(LiveCalls):
    channel = "twilio"

    def __init__(self, gw: Gateway, settings: Settings) -> None:
        super().__init__(gw, TwilioControl(settings), TOKEN_PURPOSE, settings.twilio_audio)
        self.base_url = (settings.public_base_url or "").rstrip("/")
        self.keys_by_sid: dict[str, str] = {}
        self.statuses = CallStatuses()
        self._stream_waits: dict[str, asyncio.Task[object]] = {}
        self.outbound_pending: set[str] = set()  # keys of calls we placed that have not been answered yet

    def stream_url(self, call_key: str, token: str | None = None) -> str:
        """The media URL as written in the TwiML (``wss://`` for an https base; ``ws://`` for loopback tests)."""
        return f"{ws_url(self.base_url)}/ws/twilio/{call_key}/{token or self.sign(call_key)}"

    def stream_parameter(self, call_key: str) -> str:
        return self.gw.signer.sign(PARAMETER_PURPOSE, call_key)

    def key_for(self, call_sid: str) -> str | None:
        return self.keys_by_sid.get(call_sid)

    def sid_ended(self, call_sid: str) -> bool:
        return self.statuses.ended(call_sid)

    def outbound_answered(self, call_key: str | None, call_sid: str) -> None:
        """The Voice URL of a call we placed (``?call=<key>``, signed by Twilio with the URL): it is live now."""
        if call_key is not None and call_key in self.outbound_pending:
            self.outbound_pending.discard(call_key)
            self.answer(call_key, call_sid, "", self.gw.agent)

    def answer(self, call_key: str, call_sid: str, caller: str, agent: str) -> PhoneCall:
        """The Voice URL was requested: the call is live from here, its Realtime session opening at once."""
        call = self.get_or_create(call_key, caller, agent)
        call.connection_id = call_sid
        self.keys_by_sid[call_sid] = call_key
        with session_context(call.session_id):
            call.register()
            call.prewarm()
            self._stream_waits[call_key] = self.gw.spawn(self._expire_unconnected(call_key), f"stream-wait-{call_key}")
        return call

    async def _expire_unconnected(self, call_key: str) -> None:
        """No status callback configured and the caller hung up during the greeting: nothing else would end it."""
        call = self.calls.get(call_key)
        if call is None:
            return
        try:
            await asyncio.wait_for(call.media_connected.wait(), STREAM_WAIT_S)
        except TimeoutError:
            if self.calls.get(call_key) is call:
                with session_context(call.session_id):
                    logger.warning("the media stream never connected: call ended")
                self._stream_waits.pop(call_key, None)
                await self.end(call_key, "media_never_connected")
        finally:
            self._stream_waits.pop(call_key, None)

    async def on_status(self, update: StatusUpdate) -> None:
        if not self.statuses.apply(update):
            logger.info("status %s of %s is stale or repeated: ignored", update.status, update.call_sid)
            return
        call_key = self.keys_by_sid.get(update.call_sid)
        call = self.calls.get(call_key) if call_key else None
        if call is None:  # not ours, or ended already: a late callback never brings a call back
            if update.terminal and call_key is None:  # a call whose process stopped under it ends everywhere
                lost_key = await self.gw.owners.call_key(sid_key(update.call_sid))
                if lost_key is not None:
                    with session_context(phone_session_id(lost_key)):
                        await self.ended_elsewhere(lost_key, sid_key(update.call_sid))
            return
        with session_context(call.session_id):
            logger.info("call status %s (sequence %s)", update.status, update.sequence)
            if update.terminal:
                ended = "caller_hung_up" if update.status == "completed" else update.status.replace("-", "_")
                await self.end(call_key, call.outcome if call.outcome != "completed" else ended)  # type: ignore[arg-type]
            else:
                self.gw.hub.publish(call.session_id, Health("ok", f"call {update.status}"))
                self.gw.hub.publish(call.session_id, CallProgress(update.status))

    async def dial_result(self, call_key: str, dial_status: str) -> bool:
        """A transfer's ``<Dial>`` ended with ``dial_status``; the record says whether the operator took the call."""
        connected = dial_status in ("completed", "answered")
        session_id = phone_session_id(call_key[:64])
        with session_context(session_id):
            logger.info("transfer dial ended: %s", dial_status or "no status")
            if not connected:
                outcome = "transfer_failed"
                await self.gw.writer.flush(timeout=5)  # the call's own end is written first
                await self.gw.store.end_conversation(session_id, outcome, time.time())
                await OutboundRecords(self.gw.store).progress(session_id, outcome, f"DialCallStatus {dial_status}")
        return connected

    async def end(self, call_key: str, outcome: str) -> None:
        self.outbound_pending.discard(call_key)
        waiting = self._stream_waits.pop(call_key, None)
        if waiting is not None and waiting is not asyncio.current_task():
            waiting.cancel()
        call = self.calls.get(call_key)
        aliases: tuple[str, ...] = ()
        if call is not None and call.connection_id:
            self.keys_by_sid.pop(call.connection_id, None)
            self.statuses.mark_ended(call.connection_id)  # a repeated Voice URL request must not answer it again
            aliases = (sid_key(call.connection_id),)
        await super().end(call_key, outcome, *aliases)
