"""Builders for the JSON ACS emits: CloudEvents on the callback URI and Event Grid events (protocols.md A.1, A.3).

Pure functions, no I/O, so the shapes can be checked in isolation and reused by forged-event tests.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from .models import EVENT_PREFIX, phone_identifier

SUCCESS_RESULT = {"code": 200, "subCode": 0, "message": "Action completed successfully."}
DEFAULT_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/"
    "microsoft.communication/communicationservices/acs-emulator"
)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_information(code: int = 200, sub_code: int = 0, message: str | None = None) -> dict[str, Any]:
    if code == 200 and sub_code == 0 and message is None:
        return dict(SUCCESS_RESULT)
    return {"code": code, "subCode": sub_code, "message": message or "Action failed."}


def full_type(event_type: str) -> str:
    """Accept ``PlayCompleted`` or ``Microsoft.Communication.PlayCompleted``."""
    return event_type if event_type.startswith(EVENT_PREFIX) else EVENT_PREFIX + event_type


def call_event(
    event_type: str,
    *,
    call_connection_id: str,
    server_call_id: str,
    correlation_id: str,
    operation_context: str | None = None,
    result: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One Call Automation CloudEvent 1.0; ``extra`` adds event-specific data keys (e.g. ``mediaStreamingUpdate``)."""
    data: dict[str, Any] = {
        "callConnectionId": call_connection_id,
        "serverCallId": server_call_id,
        "correlationId": correlation_id,
    }
    if operation_context is not None:
        data["operationContext"] = operation_context
    data["resultInformation"] = result if result is not None else result_information()
    data.update(extra)
    subject = f"calling/callConnections/{call_connection_id}"
    return {
        "id": str(uuid.uuid4()),
        "source": subject,
        "type": full_type(event_type),
        "data": data,
        "time": utc_now_iso(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": subject,
    }


def media_streaming_update(status: str, details: str) -> dict[str, Any]:
    return {"contentType": "Audio", "mediaStreamingStatus": status, "mediaStreamingStatusDetails": details}


def subscription_validation_event(validation_code: str | None = None) -> dict[str, Any]:
    code = validation_code or str(uuid.uuid4())
    return {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/00000000-0000-0000-0000-000000000000",
        "subject": "",
        "data": {
            "validationCode": code,
            "validationUrl": f"https://rp-emulator.eventgrid.azure.net:553/eventsubscriptions/acs/validate?id={code}",
        },
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": utc_now_iso(),
        "metadataVersion": "1",
        "dataVersion": "1",
    }


def new_incoming_call_context() -> str:
    """An opaque JWT-looking string like the real one (alg none); the emulator maps it back to its call."""
    header = {"alg": "none", "typ": "JWT"}
    payload = {"cc": secrets.token_urlsafe(48), "shrToken": secrets.token_urlsafe(24)}
    return ".".join(_b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)) + "."


def new_server_call_id() -> str:
    url = f"https://api.flightproxy.skype.com/api/v2/cp/conv-emulator/conv/{uuid.uuid4()}"
    return base64.b64encode(url.encode()).decode("ascii")


def incoming_call_event(
    *,
    caller: str,
    callee: str,
    incoming_call_context: str,
    server_call_id: str,
    correlation_id: str,
    caller_display_name: str = "",
    custom_context: dict[str, Any] | None = None,
    topic: str = DEFAULT_TOPIC,
) -> dict[str, Any]:
    """``Microsoft.Communication.IncomingCall`` (Event Grid schema) for a PSTN caller dialling a PSTN number."""
    source = phone_identifier(caller)
    target = phone_identifier(callee)
    data: dict[str, Any] = {
        "to": target,
        "from": source,
        "serverCallId": server_call_id,
        "callerDisplayName": caller_display_name,
        "incomingCallContext": incoming_call_context,
        "correlationId": correlation_id,
    }
    if custom_context is not None:
        data["customContext"] = custom_context
    return {
        "id": str(uuid.uuid4()),
        "topic": topic,
        "subject": f"/caller/{source['rawId']}/recipient/{target['rawId']}",
        "data": data,
        "eventType": "Microsoft.Communication.IncomingCall",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": utc_now_iso(),
    }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
