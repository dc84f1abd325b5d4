"""A REST-created call's life before its TwiML: queued → initiated → ringing → answered (or busy / no-answer /
failed, as the test chose), with answering machine detection (synchronous: ``AnsweredBy`` on the voice webhook;
``AsyncAmd``: a separate signed ``AsyncAmdStatusCallback``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .call import TwilioCall
from .callbacks import post_signed_form
from .config import OutboundOutcome
from .interpreter import document_verbs, fetch_document, run_document
from .records import CallStatus


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """What ``Calls.json`` asked for, parsed."""

    url: str | None
    method: str
    twiml: str | None
    timeout_s: float
    machine_detection: str | None
    async_amd: bool
    amd_callback: str | None


FAILED_OUTCOMES = {"busy": CallStatus.BUSY, "failed": CallStatus.FAILED}


async def place_outbound(call: TwilioCall, request: OutboundRequest, outcome: OutboundOutcome) -> None:
    """Ring the callee, then run the call's TwiML once answered (the call's runner)."""
    ring = call.config.ring_delay_s
    call.set_status(CallStatus.INITIATED)
    await asyncio.sleep(ring)
    call.set_status(CallStatus.RINGING)
    if outcome.outcome == "no-answer":
        await asyncio.sleep(request.timeout_s)
        call.end("callee", CallStatus.NO_ANSWER)
        return
    await asyncio.sleep(ring)
    if outcome.outcome in FAILED_OUTCOMES:
        call.end("callee", FAILED_OUTCOMES[outcome.outcome])
        return
    sync_amd = bool(request.machine_detection) and not request.async_amd
    if sync_amd:
        await asyncio.sleep(call.config.amd_delay_s)  # detection blocks the TwiML
        call.answered_by = outcome.answered_by
    call.set_status(CallStatus.IN_PROGRESS)
    if request.machine_detection and request.async_amd:
        call.spawn(_async_amd(call, request, outcome), "amd")
    if request.twiml is not None:
        verbs, doc_url = document_verbs(call, request.twiml), None
    else:
        assert request.url is not None
        extra = {"AnsweredBy": call.answered_by} if sync_amd and call.answered_by else {}
        verbs, doc_url = await fetch_document(call, request.url, request.method, **extra), request.url
    await run_document(call, verbs, doc_url)


async def _async_amd(call: TwilioCall, request: OutboundRequest, outcome: OutboundOutcome) -> None:
    await asyncio.sleep(call.config.amd_delay_s)
    call.answered_by = outcome.answered_by
    call.notify_changed()
    if not request.amd_callback:
        return  # Twilio's warning 21262: the result is only on the Call resource
    params = {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "AnsweredBy": outcome.answered_by,
        "MachineDetectionDuration": str(round(call.config.amd_delay_s * 1000)),
    }
    target = call.config.rewrite_url(request.amd_callback) if call.config.rewrite_url else None
    await post_signed_form(call.http(), request.amd_callback, params, call.config.auth_token, connect_url=target)
