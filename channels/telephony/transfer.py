"""Cold transfer of a live call to the profile's operator: once the caller has heard the agent say so, the carrier
hands the call on (ACS ``transfer_call_to_participant``, Twilio ``<Dial>`` by call update). A transfer the carrier
refuses, or reports failed, comes back to the agent with the reason, and the call goes on."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from gateway.events import CallProgress
from gateway.logs import session_context
from gateway.phone_numbers import InvalidNumber, to_e164
from gateway.tools.registry import ToolError

if TYPE_CHECKING:
    from .call import PhoneCall

logger = logging.getLogger(__name__)
ANNOUNCE_DRAIN_S = 8.0  # at most this long for the caller to hear "I am transferring you" before the transfer
TRANSFERRING = "transferring"
FAILED_DIRECTIVE = (
    "担当者への転送ができませんでした（理由: {reason}）。お客様にお詫びし、転送できなかったことを伝えて、"
    "このままご用件を伺うか、折り返しのご連絡を提案してください。"
)


async def transfer_to_operator(call: PhoneCall, reason: str) -> dict[str, Any]:
    """The tool's work for ``call``: checks now, the transfer itself in the background (it waits for playout)."""
    if not call.profile.operator_number:
        raise ToolError("No operator number is set for this agent: offer that a person will call back instead.")
    try:
        number = to_e164(call.profile.operator_number)
    except InvalidNumber as exc:
        raise ToolError(f"The operator number of this agent is not valid ({exc}): offer a call back instead.") from None
    if call.ended or not call.connection_id:
        raise ToolError("The call is not connected.")
    if call.outcome == TRANSFERRING:
        raise ToolError("The transfer is already under way: wait.")
    call.outcome = TRANSFERRING
    call.gw.spawn(_transfer(call, number, reason), f"transfer-{call.call_key}")
    return {"status": TRANSFERRING, "note": "The call is being handed to a person now. Say nothing more."}


async def _transfer(call: PhoneCall, number: str, reason: str) -> None:
    with session_context(call.session_id):
        await announcement_heard(call)
        logger.info("transferring the call to the operator (%s)", reason or "no reason given")
        call.gw.hub.publish(call.session_id, CallProgress(TRANSFERRING, reason))
        try:
            await call.control.transfer(call.connection_id, number, call.call_key)
        except Exception as exc:
            logger.warning("the carrier refused the transfer: %s", exc)
            await transfer_failed(call, str(exc)[:200] or type(exc).__name__)


async def announcement_heard(call: PhoneCall) -> None:
    """Return once the caller has heard what the agent said before the hand-over (bounded): confirmed by the
    carrier's marks where it has them (Twilio), else by the sink's modelled playout clock (ACS)."""
    if call.adapter is None:
        return
    if call.conversation is not None:  # audio the gateway still holds (paced playout) goes out first
        await call.conversation.played_out(ANNOUNCE_DRAIN_S)
    await call.adapter.drained(ANNOUNCE_DRAIN_S)
    queued_ms = getattr(call.adapter.sink.playout, "queued_ms", lambda: 0.0)()
    if queued_ms > 0:
        await asyncio.sleep(min(queued_ms / 1000, ANNOUNCE_DRAIN_S))


async def transfer_failed(call: PhoneCall, reason: str) -> None:
    """The transfer did not happen: the call is the agent's again, and the agent is told why."""
    if call.outcome != TRANSFERRING or call.ended:
        return
    call.outcome = "completed"
    call.gw.hub.publish(call.session_id, CallProgress("transfer_failed", reason))
    if call.conversation is not None:
        await call.conversation.engine.respond(FAILED_DIRECTIVE.format(reason=reason))
