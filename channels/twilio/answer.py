"""The TwiML the gateway answers with, built with the SDK's ``VoiceResponse``.

Answer: the greeting as ``<Say>`` (it plays while the Realtime session warms up), then ``<Connect><Stream>`` to
the call's signed media URL (key and token in the path: Twilio strips query strings) with a ``<Parameter>`` token
checked on ``start``, then ``<Hangup/>`` so the call ends when the gateway closes the stream (no dead air).
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from channels.telephony.call import APOLOGY, PhoneCall
from gateway.config import Settings

STREAM_PARAMETER = "token"


def answer_twiml(call: PhoneCall, stream_url: str, stream_token: str, settings: Settings) -> tuple[str, str | None]:
    """The answer's TwiML, and the greeting it speaks (``None`` when the agent greets over the stream)."""
    response = VoiceResponse()
    greeting = call.greeting_text() if call.profile.greeting_mode == "play" else None
    if greeting:
        response.say(greeting, voice=settings.twilio_say_voice, language=call.profile.language)
    connect = response.connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name=STREAM_PARAMETER, value=stream_token)
    response.hangup()
    return str(response), greeting or None


def busy_twiml() -> str:
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)


def unavailable_twiml(settings: Settings, language: str = "ja-JP") -> str:
    """No AI provider: the caller hears the apology instead of a silent line."""
    response = VoiceResponse()
    response.say(APOLOGY, voice=settings.twilio_say_voice, language=language)
    response.hangup()
    return str(response)


TRANSFER_FAILED = "申し訳ございません。ただいま担当者におつなぎできませんでした。のちほど担当者より折り返しご連絡いたします。"


def dial_done_twiml(settings: Settings, connected: bool, language: str = "ja-JP") -> str:
    """After a transfer's ``<Dial>``: the call ends; when the operator was not reached, the caller hears why."""
    response = VoiceResponse()
    if not connected:
        response.say(TRANSFER_FAILED, voice=settings.twilio_say_voice, language=language)
    response.hangup()
    return str(response)
