"""What each Call Automation REST operation does to an emulated call, with the status codes the SDK insists on
(protocols.md A.2). The HTTP plumbing (routing, HMAC, recording) lives in ``rest.py``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .models import CallState, MediaStreamingConfig, phone_identifier
from .recognize import silence_timeout_s

if TYPE_CHECKING:
    from .call import EmulatedCall
    from .emulator import AcsEmulator

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class OpResult:
    status: int
    body: Any = None


def error(status: int, code: str, message: str) -> OpResult:
    return OpResult(status, {"error": {"code": code, "message": message}})


CallOp = Callable[["AcsEmulator", "EmulatedCall", dict[str, Any]], Awaitable[OpResult]]
CALL_OPS: dict[tuple[str, str], CallOp] = {}


def call_op(method: str, operation: str) -> Callable[[CallOp], CallOp]:
    def register(fn: CallOp) -> CallOp:
        CALL_OPS[(method, operation)] = fn
        return fn

    return register


def _media_config(body: dict[str, Any]) -> MediaStreamingConfig | None:
    options = body.get("mediaStreamingOptions")
    return MediaStreamingConfig.from_wire(options) if isinstance(options, dict) else None


def _op_context(body: dict[str, Any]) -> str | None:
    value = body.get("operationContext")
    return value if isinstance(value, str) else None


def _ringing_call(emu: AcsEmulator, body: dict[str, Any]) -> EmulatedCall | OpResult:
    """The call an answer or reject refers to, or the error ACS gives when it is not ringing."""
    call = emu.call_by_context(str(body.get("incomingCallContext", "")))
    if call is None:
        return error(400, "InvalidIncomingCallContext", "incomingCallContext does not match a ringing call.")
    if call.state is not CallState.UNKNOWN:
        return error(400, "CallNotRinging", f"The call is {call.state}, not ringing.")
    return call


async def answer(emu: AcsEmulator, body: dict[str, Any]) -> OpResult:
    call = _ringing_call(emu, body)
    if isinstance(call, OpResult):
        return call
    callback = body.get("callbackUri")
    if not isinstance(callback, str) or not callback:
        return error(400, "BadRequest", "callbackUri is required.")
    try:
        media = _media_config(body)
    except ValueError as exc:
        return error(400, "BadRequest", str(exc))
    call.answer_body = body
    call.connect(callback, media, _op_context(body))
    return OpResult(200, call.properties())


async def reject(emu: AcsEmulator, body: dict[str, Any]) -> OpResult:
    call = _ringing_call(emu, body)
    if isinstance(call, OpResult):
        return call
    reason = body.get("callRejectReason", "none")
    if reason not in ("none", "busy", "forbidden"):
        return error(400, "BadRequest", f"callRejectReason {reason!r} is not none, busy or forbidden.")
    call.reject(str(reason))
    return OpResult(204, None)


async def create_call(emu: AcsEmulator, body: dict[str, Any]) -> OpResult:
    targets = body.get("targets") or []
    number = ((targets[0] if targets else {}).get("phoneNumber") or {}).get("value")
    callback = body.get("callbackUri")
    if not isinstance(number, str) or not isinstance(callback, str):
        return error(400, "BadRequest", "targets[0].phoneNumber and callbackUri are required (emulator: PSTN only).")
    try:
        media = _media_config(body)
    except ValueError as exc:
        return error(400, "BadRequest", str(exc))
    source = (body.get("sourceCallerIdNumber") or {}).get("value") or emu.config.acs_number
    callee = emu.outbound_callee(number)
    call = emu.new_call(caller=str(source), callee=number, direction="outbound", script=callee.script)
    call.answer_body = body
    call.dial(callback, media, _op_context(body), callee.outcome)
    return OpResult(201, call.properties())


@call_op("GET", "get")
async def get_call(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    return OpResult(200, call.properties())


@call_op("DELETE", "hangUp")
@call_op("POST", "terminate")
async def hang_up(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    call.end("gateway")
    return OpResult(204)


@call_op("POST", "play")
async def play(_emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    if not body.get("playSources"):
        return error(400, "BadRequest", "playSources is required.")
    call.plays.play(body)
    return OpResult(202)


@call_op("POST", "cancelAllMediaOperations")
async def cancel_all(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    call.plays.cancel_all()
    return OpResult(202)


@call_op("POST", "startMediaStreaming")
async def start_media(_emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    if call.media_config is None:
        return error(400, "BadRequest", "Media streaming was not configured when the call was answered.")
    call.start_media(_op_context(body))
    return OpResult(202)


@call_op("POST", "stopMediaStreaming")
async def stop_media(_emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    call.stop_media(_op_context(body))
    return OpResult(202)


@call_op("POST", "startContinuousDtmfRecognition")
async def start_dtmf(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    call.continuous_dtmf = True
    return OpResult(200)


@call_op("POST", "stopContinuousDtmfRecognition")
async def stop_dtmf(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    call.continuous_dtmf = False
    return OpResult(200)


@call_op("POST", "sendDtmfTones")
async def send_dtmf_tones(_emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    tones = body.get("tones")
    if not isinstance(tones, list) or not tones:
        return error(400, "BadRequest", "tones is required.")
    call.send_dtmf_tones([str(t) for t in tones], _op_context(body))
    return OpResult(202, {"operationContext": _op_context(body)})


@call_op("POST", "transferToParticipant")
async def transfer(emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    target = ((body.get("targetParticipant") or {}).get("phoneNumber") or {}).get("value")
    if not isinstance(target, str):
        return error(400, "BadRequest", "targetParticipant.phoneNumber is required (emulator: PSTN only).")
    call.transfer(target, emu.transfer_outcome(target), _op_context(body))
    return OpResult(202, {"operationContext": _op_context(body)})


@call_op("POST", "recognize")
async def recognize(emu: AcsEmulator, call: EmulatedCall, body: dict[str, Any]) -> OpResult:
    timeout_s = silence_timeout_s(body)
    if timeout_s is None:
        return error(400, "BadRequest", "The emulator recognizes DTMF only.")
    callee = emu.outbound_callee(call.callee) if call.direction == "outbound" else None
    call.recognize(callee.keys if callee else None, timeout_s, _op_context(body))
    return OpResult(202)


@call_op("POST", "hold")
@call_op("POST", "unhold")
async def hold(_emu: AcsEmulator, _call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    return OpResult(200)


@call_op("GET", "participants")
async def participants(_emu: AcsEmulator, call: EmulatedCall, _body: dict[str, Any]) -> OpResult:
    remote = call.caller if call.direction == "inbound" else call.callee
    value = [{"identifier": phone_identifier(remote), "isMuted": False, "isOnHold": False}]
    return OpResult(200, {"value": value})
