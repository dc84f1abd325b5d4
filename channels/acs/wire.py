"""ACS wire formats: Event Grid deliveries, Call Automation callbacks (CloudEvents), media-streaming messages.

Pure parsing and serialising, no I/O. Key casing varies between ACS producers (``kind`` / ``Kind``, ``audioData``
/ ``AudioData``), so lookups fold case; outbound messages use exactly the documented PascalCase shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
SMS_DELIVERY_REPORT = "Microsoft.Communication.SMSDeliveryReportReceived"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
STOP_AUDIO = '{"Kind":"StopAudio","AudioData":null,"StopAudio":{}}'


class WireError(ValueError):
    """A message that does not have the shape ACS sends."""


def _get(obj: dict[str, Any], key: str) -> Any:
    """Case-insensitive lookup, fast when the casing is the documented one."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for k, v in obj.items():
        if k.lower() == lowered:
            return v
    return None


# --- Event Grid ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubscriptionValidation:
    code: str


@dataclass(frozen=True, slots=True)
class IncomingCall:
    incoming_call_context: str
    caller: str
    callee: str
    correlation_id: str
    server_call_id: str


def _identifier(obj: Any) -> str:
    """A readable id: the phone number for PSTN callers, else the raw id."""
    if not isinstance(obj, dict):
        return ""
    phone = obj.get("phoneNumber")
    if isinstance(phone, dict) and isinstance(phone.get("value"), str):
        return phone["value"]
    raw = obj.get("rawId")
    return raw if isinstance(raw, str) else ""


@dataclass(frozen=True, slots=True)
class SmsDeliveryReport:
    """``SMSDeliveryReportReceived``: what became of an SMS sent with a delivery report asked for."""

    message_id: str
    status: str  # Delivered, Failed, …
    details: str


def _sms_report(data: dict[str, Any]) -> SmsDeliveryReport:
    message_id = data.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise WireError("SMSDeliveryReportReceived without MessageId")
    return SmsDeliveryReport(message_id, str(data.get("DeliveryStatus") or ""), str(data.get("DeliveryStatusDetails") or ""))


def parse_event_grid(body: Any) -> list[SubscriptionValidation | IncomingCall | SmsDeliveryReport]:
    """Event Grid posts an array of events (a single object is accepted too). Unknown event types are skipped."""
    events = body if isinstance(body, list) else [body]
    parsed: list[SubscriptionValidation | IncomingCall | SmsDeliveryReport] = []
    for event in events:
        if not isinstance(event, dict):
            raise WireError("each event must be a JSON object")
        kind = event.get("eventType") or event.get("type")
        data = event.get("data")
        if not isinstance(data, dict):
            raise WireError("event without a data object")
        if kind == VALIDATION_EVENT:
            code = data.get("validationCode")
            if not isinstance(code, str) or not code:
                raise WireError("validation event without validationCode")
            parsed.append(SubscriptionValidation(code))
        elif kind == SMS_DELIVERY_REPORT:
            parsed.append(_sms_report(data))
        elif kind == INCOMING_CALL:
            context = data.get("incomingCallContext")
            if not isinstance(context, str) or not context:
                raise WireError("IncomingCall without incomingCallContext")
            parsed.append(
                IncomingCall(
                    incoming_call_context=context,
                    caller=_identifier(data.get("from")),
                    callee=_identifier(data.get("to")),
                    correlation_id=str(data.get("correlationId") or ""),
                    server_call_id=str(data.get("serverCallId") or ""),
                )
            )
    return parsed


# --- Call Automation callbacks --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CallEvent:
    name: str  # e.g. "CallConnected" (the type without the Microsoft.Communication. prefix)
    call_connection_id: str
    operation_context: str
    result_code: int | None
    detail: str


def parse_callbacks(body: Any) -> list[CallEvent]:
    events = body if isinstance(body, list) else [body]
    parsed = []
    for event in events:
        if not isinstance(event, dict):
            raise WireError("each callback event must be a JSON object")
        kind = event.get("type")
        data = event.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            raise WireError("callback event needs a type and a data object")
        result = data.get("resultInformation") or data.get("resultInfo") or {}
        update = data.get("mediaStreamingUpdate") or {}
        detail = ""
        if isinstance(update, dict) and update:
            detail = f"{update.get('mediaStreamingStatus', '')}/{update.get('mediaStreamingStatusDetails', '')}"
        elif isinstance(result, dict):
            detail = str(result.get("message") or "")
        parsed.append(
            CallEvent(
                name=kind.rsplit(".", 1)[-1],
                call_connection_id=str(data.get("callConnectionId") or ""),
                operation_context=str(data.get("operationContext") or ""),
                result_code=result.get("code") if isinstance(result, dict) and isinstance(result.get("code"), int) else None,
                detail=detail,
            )
        )
    return parsed


# --- media streaming ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AudioMetadata:
    sample_rate: int
    encoding: str
    channels: int


@dataclass(frozen=True, slots=True)
class AudioFrame:
    b64: str
    silent: bool


@dataclass(frozen=True, slots=True)
class Dtmf:
    digits: str


_AUDIO_PREFIX = '{"kind":"AudioData"'
_DATA_KEY = '"data":"'


def _fast_audio(message: str) -> AudioFrame | None:
    """The audio frame of a compact ``AudioData`` message without a JSON parse (50 per second per call).

    Only the documented compact shape qualifies; anything else (other casing, whitespace, an escape inside the
    base64) returns ``None`` and takes the full parser. Base64 has no quotes, so the value ends at the next one.
    """
    start = message.find(_DATA_KEY, len(_AUDIO_PREFIX))
    if start < 0:
        return None
    start += len(_DATA_KEY)
    end = message.find('"', start)
    if end < 0 or message.find("\\", start, end) >= 0:
        return None
    return AudioFrame(message[start:end], '"silent":true' in message)


def parse_media(message: str | bytes) -> AudioFrame | AudioMetadata | Dtmf | None:
    """One inbound media message; ``None`` for kinds we do not use. Raises WireError for malformed ones."""
    if type(message) is str and message.startswith(_AUDIO_PREFIX):
        frame = _fast_audio(message)
        if frame is not None:
            return frame
    try:
        obj = json.loads(message)
    except ValueError:
        raise WireError("media message is not JSON") from None
    if not isinstance(obj, dict):
        raise WireError("media message must be a JSON object")
    kind = obj.get("kind") or _get(obj, "kind")
    if not isinstance(kind, str):
        raise WireError("media message without kind")
    kind = kind.lower()
    if kind == "audiodata":
        data = obj.get("audioData") or _get(obj, "audioData")
        if not isinstance(data, dict):
            raise WireError("AudioData without audioData")
        payload = data.get("data") if "data" in data else _get(data, "data")
        if not isinstance(payload, str):
            raise WireError("AudioData without base64 data")
        silent = data.get("silent") if "silent" in data else _get(data, "silent")
        return AudioFrame(payload, bool(silent))
    if kind == "audiometadata":
        meta = _get(obj, "audioMetadata")
        if not isinstance(meta, dict):
            raise WireError("AudioMetadata without audioMetadata")
        return AudioMetadata(int(_get(meta, "sampleRate") or 0), str(_get(meta, "encoding") or "PCM"), int(_get(meta, "channels") or 1))
    if kind == "dtmfdata":
        data = _get(obj, "dtmfData")
        return Dtmf(str(_get(data, "data") or "")) if isinstance(data, dict) else None
    return None


def audio_data(b64: str) -> str:
    """Outbound agent audio, the shape of the official Python sample (base64 needs no JSON escaping)."""
    return '{"Kind":"AudioData","AudioData":{"Data":"' + b64 + '"},"StopAudio":null}'
