"""Twilio's asynchronous answering-machine detection on calls we placed: a human (or unknown) lets the agent go on;
a machine gets the profile's choice, hang up or leave its message after the beep (``DetectMessageEnd`` reports at
the end of the machine's greeting, so a message spoken then is recorded whole)."""

from __future__ import annotations

import logging

from gateway.events import CallProgress
from gateway.logs import session_context

from .calls import TwilioCalls
from .emulated import rest_control

logger = logging.getLogger(__name__)
MACHINE = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})


async def on_answered_by(line: TwilioCalls, call_key: str, answered_by: str) -> None:
    call = line.calls.get(call_key)
    if call is None or call.ended:
        return  # ended already: a late result changes nothing
    with session_context(call.session_id):
        logger.info("answered by %s", answered_by or "unknown")
        line.gw.hub.publish(call.session_id, CallProgress("answered", f"answered by {answered_by or 'unknown'}"))
        if answered_by not in MACHINE:
            return
        rule = call.profile.answering_machine
        control = rest_control(line.control)
        if rule.action == "leave_message" and rule.message and answered_by != "fax":
            call.outcome = "machine_message_left"
            await control.say_then_hang_up(call.connection_id, rule.message, call.profile.language)
        else:
            call.outcome = "machine"
            await call.hang_up()
