"""Placing a call through ACS Call Automation's ``create_call`` from ``ACS_PHONE_NUMBER``: the call's callback and
media URLs are those of an answered call (signed call key), so everything after ``CallConnected`` is the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.telephony.call import PhoneCall
from gateway.config import Settings

from .machine_check import PENDING

if TYPE_CHECKING:
    from .blueprint import PhoneCalls

# CreateCallFailed's resultInformation.code is the SIP status of the failed attempt
BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})


def create_failure_outcome(code: int | None) -> str:
    """The outcome of an outbound call that never connected, from ``CreateCallFailed``'s result code."""
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no_answer"
    return "failed"


class AcsDialer:
    def __init__(self, line: PhoneCalls, settings: Settings) -> None:
        self._line = line
        self.caller_id = settings.acs_phone_number
        self.base_url = line.base_url or settings.public_base_url

    @property
    def line(self) -> PhoneCalls:
        return self._line

    def refusal(self) -> str | None:
        if not self.caller_id:
            return "ACS_PHONE_NUMBER is not set: outbound ACS calls need a caller ID (a number of the resource)"
        if not self.base_url:
            return "PUBLIC_BASE_URL is not set: ACS needs it to call the gateway back"
        return None

    async def dial(self, call: PhoneCall, to: str) -> str:
        assert self.caller_id is not None
        check = call.profile.answering_machine.check
        if check == "press_key":
            self._line.key_checks[call.call_key] = PENDING
        elif check == "short_silence":
            self._line.silence_checks.add(call.call_key)
        callback_url, media_url = self._line.urls(call.call_key, call.profile.name)
        try:
            connection_id = await self._line.control.create_call(to, self.caller_id, callback_url, media_url, call.call_key)
        except Exception:  # refused: no CallConnected will ever ask for the check
            self._line.key_checks.pop(call.call_key, None)
            self._line.silence_checks.discard(call.call_key)
            raise
        call.connection_id = call.connection_id or connection_id
        return connection_id
