"""Call control through the real ACS Call Automation SDK (async client): answer, play, stream, hang up.

It is the telephony core's ``CallControl`` for ACS (greet and apologise are plays, told apart by operation context).

The SDK's ``from_connection_string`` always dials https, so a connection string is split here and the client is
built from its endpoint and key: that way an ``http://`` endpoint (a local emulator) works in either form.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.communication.callautomation import (
    AudioFormat,
    CallRejectReason,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    RecognizeInputType,
    SsmlSource,
    StreamingTransportType,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ServiceRequestError

from gateway import readings
from gateway.config import Settings, split_connection_string
from gateway.readings import NO_DICTIONARY, ReadingsDictionary

from .transport import pooled_transport

logger = logging.getLogger(__name__)

T = TypeVar("T")
GREETING_CONTEXT = "greeting"  # operation contexts: PlayCompleted/PlayFailed tell which play ended
APOLOGY_CONTEXT = "apology"
TRANSFER_CONTEXT = "transfer"
HUMAN_CHECK_CONTEXT = "human-check"


async def unsent_retried(operation: str, request: Callable[[], Awaitable[T]]) -> T:
    """Send again once when the connection failed under the request (typically a pooled connection the far end had
    just closed), so no answer came back.

    The SDK's retry policy leaves POSTs alone, and every call-control request is a POST. Losing a ringing call over a
    stale connection is worse than the rare repeat: should the first request have reached ACS after all, a second
    answer is refused by ACS and reported like any failed answer, and hang-up is idempotent.
    """
    try:
        return await request()
    except ServiceRequestError as exc:
        logger.warning("%s: the request did not reach ACS (%s); sending it again", operation, exc)
        return await request()


class CallControl:
    def __init__(self, settings: Settings, readings_now: Callable[[], ReadingsDictionary] = lambda: NO_DICTIONARY) -> None:
        """``readings_now`` gives the deployment's readings dictionary in force (it is hot-reloaded)."""
        self._readings = readings_now
        if settings.acs_connection_string:
            self.endpoint, key = split_connection_string(settings.acs_connection_string.get_secret_value())
        else:
            assert settings.acs_endpoint and settings.acs_access_key
            self.endpoint, key = settings.acs_endpoint, settings.acs_access_key.get_secret_value()
        self._credential = AzureKeyCredential(key)
        self.audio_format = AudioFormat.PCM24_K_MONO if settings.acs_audio_format == "pcm24k" else AudioFormat.PCM16_K_MONO
        self.cognitive_services_endpoint = settings.cognitive_services_endpoint
        self.caller_id = settings.acs_phone_number  # shown to the operator a call is transferred to
        self._client: CallAutomationClient | None = None

    @property
    def client(self) -> CallAutomationClient:
        if self._client is None:  # created lazily, inside the serving event loop
            self._client = CallAutomationClient(self.endpoint, self._credential, transport=pooled_transport())
        return self._client

    async def warm(self) -> None:
        """Build the SDK client and open its HTTP transport now (start-up, inside the serving loop) rather than on
        the first call's clock; no request is sent. ``close`` closes it."""
        await self.client.__aenter__()

    @property
    def credential(self) -> AzureKeyCredential:
        """The resource's access key, for the other ACS clients (SMS) on the same resource."""
        return self._credential

    @property
    def sample_rate(self) -> int:
        return 24_000 if self.audio_format == AudioFormat.PCM24_K_MONO else 16_000

    def media_options(self, transport_url: str) -> MediaStreamingOptions:
        return MediaStreamingOptions(
            transport_url=transport_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=False,  # the greeting plays first; streaming starts when it ends
            enable_bidirectional=True,
            audio_format=self.audio_format,
            enable_dtmf_tones=True,  # a caller can key in a handoff code to continue a browser conversation
        )

    async def create_call(self, to: str, caller_id: str, callback_url: str, transport_url: str, operation_context: str) -> str:
        """Call ``to`` from ``caller_id`` (outbound): the same media streaming as an answered call, greeting first."""
        kwargs = {"cognitive_services_endpoint": self.cognitive_services_endpoint} if self.cognitive_services_endpoint else {}
        props = await self.client.create_call(
            PhoneNumberIdentifier(to),
            callback_url,
            source_caller_id_number=PhoneNumberIdentifier(caller_id),
            media_streaming=self.media_options(transport_url),
            operation_context=operation_context,
            **kwargs,
        )
        return str(props.call_connection_id)

    async def answer(self, incoming_call_context: str, callback_url: str, transport_url: str, operation_context: str) -> str:
        media = self.media_options(transport_url)
        kwargs = {"cognitive_services_endpoint": self.cognitive_services_endpoint} if self.cognitive_services_endpoint else {}
        props = await unsent_retried(
            "answer",
            lambda: self.client.answer_call(
                incoming_call_context, callback_url, media_streaming=media, operation_context=operation_context, **kwargs
            ),
        )
        return str(props.call_connection_id)

    async def reject(self, incoming_call_context: str) -> None:
        await unsent_retried("reject", lambda: self.client.reject_call(incoming_call_context, call_reject_reason=CallRejectReason.BUSY))

    async def play_ssml(self, call_connection_id: str, ssml: str, operation_context: str) -> None:
        """Play an SSML document (the readings module's: phone numbers, dates and place names read right)."""
        source = SsmlSource(ssml_text=ssml)
        connection = self.client.get_call_connection(call_connection_id)
        await unsent_retried("play", lambda: connection.play_media_to_all(source, operation_context=operation_context))

    async def greet(self, call_id: str, text: str, voice: str, language: str) -> None:
        await self.play_ssml(call_id, self._ssml(text, voice, language), GREETING_CONTEXT)

    async def apologise(self, call_id: str, text: str, voice: str, language: str) -> None:
        await self.play_ssml(call_id, self._ssml(text, voice, language), APOLOGY_CONTEXT)

    def _ssml(self, text: str, voice: str, language: str) -> str:
        """ACS speaks what it is given: dates, numbers and the deployment's place names are read by our rules."""
        return readings.ssml(text, voice, language, self._readings())

    async def start_bridge(self, call_id: str) -> None:
        await self.start_streaming(call_id)

    async def start_streaming(self, call_connection_id: str) -> None:
        connection = self.client.get_call_connection(call_connection_id)
        await unsent_retried("start media streaming", lambda: connection.start_media_streaming(operation_context="start-media"))

    async def transfer(self, call_id: str, target: str, call_key: str) -> None:
        """Cold transfer: ACS answers 202, then ``CallTransferAccepted`` (the call leaves us) or ``CallTransferFailed``."""
        connection = self.client.get_call_connection(call_id)
        kwargs = {"source_caller_id_number": PhoneNumberIdentifier(self.caller_id)} if self.caller_id else {}
        await connection.transfer_call_to_participant(PhoneNumberIdentifier(target), operation_context=TRANSFER_CONTEXT, **kwargs)

    async def ask_key_press(self, call_id: str, target: str, prompt: str, voice: str, language: str, timeout_s: int) -> None:
        """Play ``prompt`` and wait for one key from ``target``: ``RecognizeCompleted`` (a person) or
        ``RecognizeFailed`` (nothing pressed: an answering machine, most likely)."""
        connection = self.client.get_call_connection(call_id)
        await connection.start_recognizing_media(
            RecognizeInputType.DTMF,
            PhoneNumberIdentifier(target),
            play_prompt=SsmlSource(ssml_text=self._ssml(prompt, voice, language)),
            initial_silence_timeout=timeout_s,
            dtmf_max_tones_to_collect=1,
            interrupt_prompt=True,
            operation_context=HUMAN_CHECK_CONTEXT,
        )

    async def hang_up(self, call_connection_id: str) -> None:
        connection = self.client.get_call_connection(call_connection_id)
        await unsent_retried("hang up", lambda: connection.hang_up(is_for_everyone=True))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
