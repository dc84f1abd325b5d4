"""Call control through the real ACS Call Automation SDK (async client): answer, play, stream, hang up.

The SDK's ``from_connection_string`` always dials https, so a connection string is split here and the client is
built from its endpoint and key: that way an ``http://`` endpoint (a local emulator) works in either form.
"""

from __future__ import annotations

import logging

from azure.communication.callautomation import (
    AudioFormat,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    StreamingTransportType,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential

from gateway.config import Settings

logger = logging.getLogger(__name__)


def split_connection_string(value: str) -> tuple[str, str]:
    parts = dict(
        (k.strip().lower(), v.strip()) for k, _, v in (p.partition("=") for p in value.split(";") if "=" in p)
    )
    endpoint, key = parts.get("endpoint"), parts.get("accesskey")
    if not endpoint or not key:
        raise ValueError("ACS_CONNECTION_STRING needs endpoint=...;accesskey=...")
    return endpoint.rstrip("/"), key


class CallControl:
    def __init__(self, settings: Settings) -> None:
        if settings.acs_connection_string:
            self.endpoint, key = split_connection_string(settings.acs_connection_string.get_secret_value())
        else:
            assert settings.acs_endpoint and settings.acs_access_key
            self.endpoint, key = settings.acs_endpoint, settings.acs_access_key.get_secret_value()
        self._credential = AzureKeyCredential(key)
        self.audio_format = AudioFormat.PCM24_K_MONO if settings.acs_audio_format == "pcm24k" else AudioFormat.PCM16_K_MONO
        self.cognitive_services_endpoint = settings.cognitive_services_endpoint
        self._client: CallAutomationClient | None = None

    @property
    def client(self) -> CallAutomationClient:
        if self._client is None:  # created lazily, inside the serving event loop
            self._client = CallAutomationClient(self.endpoint, self._credential)
        return self._client

    @property
    def sample_rate(self) -> int:
        return 24_000 if self.audio_format == AudioFormat.PCM24_K_MONO else 16_000

    async def answer(self, incoming_call_context: str, callback_url: str, transport_url: str, operation_context: str) -> str:
        media = MediaStreamingOptions(
            transport_url=transport_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=False,  # the greeting plays first; streaming starts when it ends
            enable_bidirectional=True,
            audio_format=self.audio_format,
            enable_dtmf_tones=True,  # a caller can key in a handoff code to continue a browser conversation
        )
        kwargs = {"cognitive_services_endpoint": self.cognitive_services_endpoint} if self.cognitive_services_endpoint else {}
        props = await self.client.answer_call(
            incoming_call_context, callback_url, media_streaming=media, operation_context=operation_context, **kwargs
        )
        return str(props.call_connection_id)

    async def play_text(self, call_connection_id: str, text: str, voice: str, locale: str, operation_context: str) -> None:
        source = TextSource(text=text, voice_name=voice, source_locale=locale)
        await self.client.get_call_connection(call_connection_id).play_media_to_all(source, operation_context=operation_context)

    async def start_streaming(self, call_connection_id: str) -> None:
        await self.client.get_call_connection(call_connection_id).start_media_streaming(operation_context="start-media")

    async def hang_up(self, call_connection_id: str) -> None:
        await self.client.get_call_connection(call_connection_id).hang_up(is_for_everyone=True)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
