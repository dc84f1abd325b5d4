"""Calls the gateway places: a number already normalised, an agent profile carrying the call's variables as data,
a carrier that dials it. The call is on the hub (so on the console) from the moment it is dialled; its carrier's
progress (``CallProgress``) and its end (``SessionEnded``) are written to the outbound record as they come."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from gateway.call_variables import with_variables
from gateway.events import CallProgress, SessionEnded
from gateway.hub import Subscription
from gateway.logs import session_context
from gateway.services import Gateway
from gateway.sms import AfterCallSms
from gateway.store.outbound import OutboundRecords

from .call import PhoneCall
from .registry import LiveCalls, new_call_key

logger = logging.getLogger(__name__)


class Dialer(Protocol):
    """One carrier's way of placing a call on its line."""

    @property
    def line(self) -> LiveCalls: ...

    def refusal(self) -> str | None:
        """Why this carrier cannot place calls as configured (``None``: it can)."""
        ...

    async def dial(self, call: PhoneCall, to: str) -> str:
        """Ask the carrier to call ``to`` for ``call``; returns the carrier's id of the call."""
        ...


@dataclass(frozen=True, slots=True)
class CallRequest:
    to: str  # E.164
    agent: str
    carrier: str
    variables: dict[str, str]
    call_key: str | None = None  # chosen by the caller when it records the attempt before dialling (a campaign)


class OutboundCalls:
    def __init__(self, gw: Gateway, dialers: dict[str, Dialer], sms: AfterCallSms | None = None) -> None:
        self.gw = gw
        self.dialers = dialers
        self.records = OutboundRecords(gw.store)
        self.sms = sms

    def refusal(self, carrier: str) -> str | None:
        dialer = self.dialers.get(carrier)
        if dialer is None:
            return f"the {carrier} channel is not configured (see voice-gateway doctor)"
        if self.gw.realtime is None:
            return "no AI provider is configured"
        if self.gw.draining:
            return "draining: not placing new calls"
        if self.gw.at_media_capacity():
            return f"at capacity (MAX_MEDIA_SESSIONS={self.gw.settings.max_media_sessions}): try again when a call ends"
        return dialer.refusal()

    async def place(self, request: CallRequest) -> str:
        """Record the call, put it on the hub and start dialling; returns its id (the conversation's id) at once."""
        dialer = self.dialers[request.carrier]
        line = dialer.line
        call_key = request.call_key or new_call_key()
        await self.gw.owners.own(call_key)  # its callbacks and media may reach another process: they come here
        profile = with_variables(self.gw.profile(request.agent), request.variables)
        call = PhoneCall(self.gw, line.control, call_key, request.to, profile, line.audio_format)
        line.calls[call_key] = call
        await self.records.create(call.session_id, request.carrier, request.to, profile.name)
        subscription = self.gw.hub.subscribe(call.session_id, maxsize=200)
        with session_context(call.session_id):
            self.gw.spawn(self._follow(call, request, subscription), f"outbound-record-{call_key}")
            call.register()
            logger.info("dialling %s on %s (agent %s)", request.to, request.carrier, profile.name)
            self.gw.spawn(self._dial(dialer, call, request.to), f"outbound-dial-{call_key}")
        return call.session_id

    async def _dial(self, dialer: Dialer, call: PhoneCall, to: str) -> None:
        try:
            carrier_call_id = await dialer.dial(call, to)
        except Exception as exc:  # the carrier refused (bad caller ID, no credit, unreachable): the call failed
            logger.error("the carrier did not place the call: %s", exc or type(exc).__name__)
            self.gw.hub.publish(call.session_id, CallProgress("failed", str(exc)[:300]))
            await dialer.line.end(call.call_key, "failed")
            return
        logger.info("the carrier placed the call (%s)", carrier_call_id)
        self.gw.hub.publish(call.session_id, CallProgress("queued", carrier_call_id=carrier_call_id))

    async def _follow(self, call: PhoneCall, request: CallRequest, subscription: Subscription) -> None:
        """Write the call's progress and outcome to its record (the only writer of that row), then the SMS."""
        session_id = call.session_id
        try:
            async for _, event in subscription:
                if isinstance(event, CallProgress):
                    await self.records.progress(session_id, event.status, event.detail, event.carrier_call_id or None)
                elif isinstance(event, SessionEnded):
                    await self.records.progress(session_id, event.outcome)
                    break
        finally:
            subscription.close()
        if self.sms is not None:
            with session_context(session_id):
                decision = await self.sms.after_call(session_id, request.carrier, request.to, call.profile, request.variables)
                await self.records.sms_decided(session_id, decision)
