"""ACS has no answering-machine detection: an outbound call whose profile asks for it (``answering_machine.check:
press_key``) first plays a prompt and waits for a key. A key means a person: the call goes on as any connected
call (greeting, bridge). No key means a machine: the profile's choice, hang up or leave its message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from channels.telephony.call import PhoneCall
from gateway.events import CallProgress
from gateway.logs import session_context

if TYPE_CHECKING:
    from .blueprint import PhoneCalls

logger = logging.getLogger(__name__)
PENDING, ASKED, DONE = "pending", "asked", "done"


async def ask(line: PhoneCalls, call: PhoneCall, connection_id: str) -> None:
    """On ``CallConnected`` (once, however often it is delivered): prewarm, then the prompt."""
    if line.key_checks.get(call.call_key) != PENDING:
        return
    line.key_checks[call.call_key] = ASKED
    call.connection_id = call.connection_id or connection_id
    call.prewarm()  # the agent is ready the moment a person presses a key
    rule = call.profile.answering_machine
    voice = call.profile.tts_voice or call.gw.settings.greeting_voice
    try:
        await line.control.ask_key_press(call.connection_id, call.caller, rule.check_prompt, voice, call.profile.language, rule.check_timeout_s)
    except Exception as exc:  # the check cannot run: treat the callee as a person rather than lose the call
        logger.error("the key-press check could not start (%s): the call goes on", exc)
        await answered(line, call, keyed=True)


async def answered(line: PhoneCalls, call: PhoneCall, keyed: bool) -> None:
    """The check's result (``RecognizeCompleted``: keyed; ``RecognizeFailed``: not)."""
    if line.key_checks.get(call.call_key) != ASKED:
        return
    line.key_checks[call.call_key] = DONE
    with session_context(call.session_id):
        who = "a person (a key was pressed)" if keyed else "a machine (no key pressed)"
        logger.info("answered by %s", who)
        call.gw.hub.publish(call.session_id, CallProgress("answered", f"answered by {who}"))
        if keyed:
            await call.on_connected(call.connection_id)
            return
        rule = call.profile.answering_machine
        if rule.action == "leave_message" and rule.message:
            call.outcome = "machine_message_left"
            voice = call.profile.tts_voice or call.gw.settings.greeting_voice
            await line.control.apologise(call.connection_id, rule.message, voice, call.profile.language)  # then hang-up
        else:
            call.outcome = "machine"
            await call.hang_up()
