"""The SMS endpoint of the emulated resource, as ``azure-communication-sms`` 1.1 calls it: ``POST
/sms?api-version=2021-03-07`` with the same HMAC scheme as Call Automation, 202 with one result per recipient.
Recipients ``set_sms_failure`` names get an unsuccessful result (as a number that cannot take SMS does)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quart import Response, request

from .eventgrid import post_events
from .events import DEFAULT_TOPIC, utc_now_iso
from .hmac_auth import verify_request
from .models import RecordedRequest

if TYPE_CHECKING:
    from .emulator import AcsEmulator

SMS_API_VERSION = "2021-03-07"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(slots=True)
class SentSms:
    """One message the emulated resource accepted."""

    message_id: str
    from_: str
    to: str
    message: str
    delivery_report: bool
    tag: str | None
    at: float = field(default_factory=time.monotonic)
    reports: list[int] = field(default_factory=list)  # the HTTP status of each delivery report posted


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status=status, content_type="application/json")


async def send_sms(emulator: AcsEmulator) -> Response:
    query = request.query_string.decode("latin-1")
    path_and_query = request.path + ("?" + query if query else "")
    body_bytes = await request.get_data(cache=True, as_text=False)
    record = RecordedRequest("POST", request.path, "sms", None, dict(request.args), None, time.monotonic())
    response = _handle(emulator, path_and_query, body_bytes, record)
    record.status = response.status_code
    emulator.record_request(record)
    return response


def _handle(emulator: AcsEmulator, path_and_query: str, body_bytes: bytes, record: RecordedRequest) -> Response:
    if request.args.get("api-version") != SMS_API_VERSION:
        return _error(400, "UnsupportedApiVersion", f"api-version must be {SMS_API_VERSION}.")
    config = emulator.config
    auth = verify_request(config.access_key, "POST", path_and_query, request.headers, body_bytes, max_skew_s=config.max_clock_skew_s)
    if not auth.ok:
        return _error(401, "Unauthorized", f"Denied by HMAC authentication: {auth.reason}.")
    try:
        body: Any = json.loads(body_bytes)
        from_, message, recipients = body["from"], body["message"], body["smsRecipients"]
        options = body.get("smsSendOptions") or {}
    except (ValueError, KeyError, TypeError):
        return _error(400, "BadRequest", "from, message and smsRecipients are required.")
    record.body = body
    if not isinstance(from_, str) or not E164.match(from_):
        return _error(400, "BadRequest", "from must be an E.164 number of the resource.")
    results = []
    for recipient in recipients:
        to = str(recipient.get("to") or "")
        failure = emulator.sms_failures.get(to) or (None if E164.match(to) else "Invalid To phone number format.")
        if failure:
            results.append({"to": to, "messageId": None, "httpStatusCode": 400, "successful": False, "errorMessage": failure})
            continue
        sms = SentSms(f"Outgoing_{uuid.uuid4().hex}_noam", from_, to, str(message), bool(options.get("enableDeliveryReport")), options.get("tag"))
        emulator.sms.append(sms)
        if sms.delivery_report and config.sms_events_url:
            emulator.spawn(deliver_report(emulator, sms), f"sms-report-{sms.message_id}")
        results.append({"to": to, "messageId": sms.message_id, "httpStatusCode": 202, "repeatabilityResult": "accepted", "successful": True, "errorMessage": None})
    return Response(json.dumps({"value": results}), status=202, content_type="application/json")


def delivery_report_event(sms: SentSms, status: str, details: str) -> dict[str, Any]:
    """``Microsoft.Communication.SMSDeliveryReportReceived`` (Event Grid schema; its data keys are PascalCase)."""
    now = utc_now_iso()
    data: dict[str, Any] = {
        "MessageId": sms.message_id,
        "From": sms.from_,
        "To": sms.to,
        "DeliveryStatus": status,
        "DeliveryStatusDetails": details,
        "ReceivedTimestamp": now,
        "DeliveryAttempts": [{"Timestamp": now, "SegmentsSucceeded": 1 if status == "Delivered" else 0, "SegmentsFailed": 0}],
    }
    if sms.tag is not None:
        data["Tag"] = sms.tag
    return {
        "id": str(uuid.uuid4()),
        "topic": DEFAULT_TOPIC,
        "subject": f"/phonenumber/{sms.from_.lstrip('+')}",
        "data": data,
        "eventType": "Microsoft.Communication.SMSDeliveryReportReceived",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": now,
    }


async def deliver_report(emulator: AcsEmulator, sms: SentSms) -> None:
    """The delivery report Event Grid posts once the handset took the message (or the carrier gave up)."""
    await asyncio.sleep(emulator.config.sms_delivery_delay_s)
    status, details = emulator.sms_undelivered.get(sms.to, ("Delivered", "No error."))
    url = emulator.config.sms_events_url
    assert url is not None
    response = await post_events(url, [delivery_report_event(sms, status, details)], session=emulator.http())
    sms.reports.append(response.status)
    emulator.notify_changed()
