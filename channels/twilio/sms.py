"""SMS through Twilio Messages (the official SDK) from TWILIO_PHONE_NUMBER; its delivery status comes to the
signed ``/api/twilio/sms-status`` callback."""

from __future__ import annotations

from .control import TwilioControl


class TwilioSms:
    def __init__(self, control: TwilioControl, caller_id: str, public_base_url: str) -> None:
        self.control = control
        self.caller_id = caller_id
        self.status_url = f"{public_base_url.rstrip('/')}/api/twilio/sms-status"

    async def send(self, to: str, text: str, tag: str) -> tuple[str, str]:
        message = await self.control.client.messages.create_async(
            to=to, from_=self.caller_id, body=text, status_callback=self.status_url
        )
        return str(message.sid), str(message.status or "queued")
