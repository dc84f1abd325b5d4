"""ACS has no answering-machine detection: an outbound call whose profile asks for it either first plays a prompt
and waits for a key (``answering_machine.check: press_key``; a key means a person), or listens to the callee
before the agent speaks (``short_silence``; a short greeting then silence means a person, see
``channels/telephony/silence_check.py``). A person: the call goes on as any connected call (greeting, bridge). A
machine: the profile's choice, hang up or leave its message."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from channels.telephony.call import PhoneCall
from channels.telephony.carrier import CallerAudio
from channels.telephony.silence_check import ShortSilenceCheck
from gateway.audio import REALTIME_RATE, b64decode
from gateway.events import CallProgress
from gateway.logs import session_context

if TYPE_CHECKING:
    from .blueprint import PhoneCalls
    from .media import AcsMedia

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
        await machine_answered(line, call)


async def machine_answered(line: PhoneCalls, call: PhoneCall) -> None:
    """The profile's choice for a machine: its message (played, then the hang-up) or the hang-up at once."""
    rule = call.profile.answering_machine
    if rule.action == "leave_message" and rule.message:
        call.outcome = "machine_message_left"
        voice = call.profile.tts_voice or call.gw.settings.greeting_voice
        await line.control.apologise(call.connection_id, rule.message, voice, call.profile.language)  # then hang-up
    else:
        call.outcome = "machine"
        await call.hang_up()


async def screen(line: PhoneCalls, call: PhoneCall, adapter: AcsMedia, receive: Callable[[], Awaitable[str | bytes]]) -> bool:
    """``short_silence``: listen to the callee on the media socket before the agent speaks. True: a person (the
    greeting follows and the socket goes on to the bridge). False: a machine, dealt with; the socket is held until
    the call ends, so that a message being left is not cut off by the socket's end."""
    rule = call.profile.answering_machine
    check = ShortSilenceCheck(REALTIME_RATE, rule.silence_ms, rule.max_greeting_ms, rule.check_timeout_s * 1000)
    verdict = None
    while verdict is None:
        message = await receive()
        try:
            event = adapter.parse(message)
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # malformed: not ACS; keep listening
            logger.warning("malformed media message ignored during the machine check: %s", exc)
            continue
        if isinstance(event, CallerAudio):
            verdict = check.feed(b64decode(event.b64))  # ACS media is PCM16 at the engine rate
    who = f"a {verdict} ({check.reason})"
    logger.info("answered by %s", who)
    call.gw.hub.publish(call.session_id, CallProgress("answered", f"answered by {who}"))
    if verdict == "person":
        await call.on_connected(call.connection_id)
        return True
    # its own task: the hang-up closes this socket, which cancels this one, and the call's end must not be cut short
    call.gw.spawn(machine_answered(line, call), f"machine-{call.call_key}")
    while not call.ended:
        await receive()  # the message plays; ACS closes the socket when the call is hung up
    return False
