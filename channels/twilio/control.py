"""Call control through the official ``twilio`` SDK (its async client), pointed at ``TWILIO_API_BASE``.

The telephony core's ``CallControl`` for Twilio: the greeting and the stream are in the answer's TwiML, so greet
and start_bridge have nothing to do; the apology replaces the call's TwiML (``<Say>`` then ``<Hangup/>``), which
also ends the media stream; hang-up sets the call ``completed``, a call already gone (404 / 20404) being fine.
"""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from gateway.config import Settings

logger = logging.getLogger(__name__)
NOT_FOUND_CODE = 20404
DIAL_TIMEOUT_S = 30  # how long the operator's phone rings


def gone(exc: TwilioRestException) -> bool:
    """The call is not there any more (ended, or never was): nothing left to end."""
    return exc.status == 404 or exc.code == NOT_FOUND_CODE


def say_twiml(text: str, voice: str, language: str, hang_up: bool = True) -> str:
    response = VoiceResponse()
    response.say(text, voice=voice, language=language)
    if hang_up:
        response.hangup()
    return str(response)


class TwilioControl:
    def __init__(self, settings: Settings) -> None:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self.account_sid = settings.twilio_account_sid
        self._token = settings.twilio_auth_token
        self.api_base = settings.twilio_api_base
        self.say_voice = settings.twilio_say_voice
        self.caller_id = settings.twilio_phone_number
        self.public_base_url = (settings.public_base_url or "").rstrip("/")
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    @property
    def client(self) -> Client:
        if self._client is None:  # the async HTTP client opens an aiohttp session: inside the serving loop
            sdk_log = logging.getLogger(f"{__name__}.sdk")  # the SDK logs every request at INFO: keep them out
            sdk_log.setLevel(logging.WARNING)
            self._http = AsyncTwilioHttpClient(timeout=10, logger=sdk_log)
            # a non-empty environment without TWILIO_EDGE / TWILIO_REGION: the SDK would otherwise read them from the
            # process environment and rewrite the API host (settings come from gateway.config only)
            self._client = Client(self.account_sid, self._token.get_secret_value(), http_client=self._http, environment={"SETTINGS": "gateway.config"})
            self._client.api.base_url = self.api_base
        return self._client

    async def warm(self) -> None:
        """Build the SDK client now (start-up, inside the serving loop) rather than on the first call's clock."""
        _ = self.client

    async def greet(self, call_id: str, text: str, voice: str, language: str) -> None:
        """Twilio greets with ``<Say>`` in the answer's TwiML, before the stream connects: nothing to do here."""

    async def start_bridge(self, call_id: str) -> None:
        """The answer's ``<Connect><Stream>`` connects the media socket after the greeting: nothing to do here."""

    async def apologise(self, call_id: str, text: str, voice: str, language: str) -> None:
        await self.say_then_hang_up(call_id, text, language)

    async def say_then_hang_up(self, call_id: str, text: str, language: str) -> None:
        """The call's TwiML becomes ``<Say>`` then ``<Hangup/>`` (which also ends the media stream)."""
        twiml = say_twiml(text, self.say_voice, language)
        try:
            await self.client.calls(call_id).update_async(twiml=twiml)
        except TwilioRestException as exc:
            if not gone(exc):
                raise
            logger.info("not spoken: the call has ended already")

    async def transfer(self, call_id: str, target: str, call_key: str) -> None:
        """Cold transfer: the call's TwiML becomes ``<Dial>`` (which ends the media stream); how the dial went comes
        to the signed ``action`` URL."""
        response = VoiceResponse()
        action = f"{self.public_base_url}/api/twilio/dial-result?call={call_key}"
        dial = response.dial(caller_id=self.caller_id, action=action, timeout=DIAL_TIMEOUT_S)
        dial.number(target)
        await self.client.calls(call_id).update_async(twiml=str(response))

    async def hang_up(self, call_id: str) -> None:
        try:
            await self.client.calls(call_id).update_async(status="completed")
        except TwilioRestException as exc:
            if not gone(exc):
                raise
            logger.info("hang-up: the call had ended already")

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None
