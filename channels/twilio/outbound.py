"""Placing a call through Twilio's Calls REST API (the official SDK): ``Url`` is the gateway's Voice URL for this
call (``?call=<key>``; Twilio signs the whole URL, so the key cannot be forged), status callbacks for every step."""

from __future__ import annotations

from channels.telephony.call import PhoneCall
from gateway.config import Settings

from .calls import TwilioCalls
from .emulated import rest_control

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioDialer:
    def __init__(self, line: TwilioCalls, settings: Settings) -> None:
        self._line = line
        self.caller_id = settings.twilio_phone_number
        self.base_url = (settings.public_base_url or "").rstrip("/")
        self.ring_timeout_s = settings.outbound_ring_timeout_s

    @property
    def line(self) -> TwilioCalls:
        return self._line

    def refusal(self) -> str | None:
        if not self.caller_id:
            return "TWILIO_PHONE_NUMBER is not set: outbound Twilio calls need a caller ID (a number of the account)"
        return None

    async def dial(self, call: PhoneCall, to: str) -> str:
        control = rest_control(self._line.control)
        self._line.outbound_pending.add(call.call_key)
        created = await control.client.calls.create_async(
            to=to,
            from_=self.caller_id,
            url=f"{self.base_url}/api/twilio/voice?call={call.call_key}",
            status_callback=f"{self.base_url}/api/twilio/status",
            status_callback_event=STATUS_EVENTS,
            timeout=self.ring_timeout_s,
            machine_detection="DetectMessageEnd",  # machine_end_*: after the greeting, at the beep
            async_amd="true",  # the agent starts at once; the result comes to the AMD callback
            async_amd_status_callback=f"{self.base_url}/api/twilio/amd?call={call.call_key}",
        )
        sid = str(created.sid)
        call.connection_id = call.connection_id or sid
        self._line.keys_by_sid[sid] = call.call_key
        return sid
