"""SMS through ``azure-communication-sms`` (its async client) on the ACS line's resource, from ACS_PHONE_NUMBER,
with a delivery report asked for; the message is tagged with the conversation's id."""

from __future__ import annotations

from azure.communication.sms.aio import SmsClient

from .control import CallControl


class AcsSms:
    def __init__(self, control: CallControl, caller_id: str) -> None:
        self.control = control
        self.caller_id = caller_id

    async def send(self, to: str, text: str, tag: str) -> tuple[str, str]:
        async with SmsClient(self.control.endpoint, self.control.credential) as client:
            [result] = await client.send(from_=self.caller_id, to=to, message=text, enable_delivery_report=True, tag=tag)
        if not result.successful:
            raise RuntimeError(f"ACS refused the SMS ({result.http_status_code}): {result.error_message}")
        return str(result.message_id), "accepted"
