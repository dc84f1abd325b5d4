"""Every emulator at once, plus the settings that point the gateway at them: for the offline demo, the tests and
the benchmark. The gateway still talks to them through the real SDKs, over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .acs import AcsEmulator
from .chat import ChatEmulator
from .realtime import RealtimeEmulator
from .serving import serve_app
from .speech import SpeechEmulator
from .webrtc import WebRtcEmulator

OPENAI_KEY = "sk-emulated-openai-key"
SPEECH_KEY = "emulated-speech-key"


def chat_settings(chat_url: str, key: str) -> dict[str, str]:
    """Settings values that send chat completions (call summaries, the WebSocket channel's LLM) to the chat emulator
    at ``chat_url`` through the Azure form, so the OpenAI base URL stays the Realtime emulator's: Realtime and chat
    live on different emulators, as the real services are different routes of one provider."""
    return {"azure_openai_endpoint": chat_url, "azure_openai_api_key": key, "azure_openai_chat_deployment": "chat"}


@dataclass
class OfflineStack:
    acs: AcsEmulator
    realtime: RealtimeEmulator
    speech: SpeechEmulator
    chat: ChatEmulator
    webrtc: WebRtcEmulator
    urls: dict[str, str] = field(default_factory=dict)

    def settings(self, public_base_url: str, **extra: Any) -> dict[str, Any]:
        """Settings values (field names) that wire a gateway to these emulators."""
        values: dict[str, Any] = {
            "public_base_url": public_base_url,
            "acs_endpoint": self.urls["acs"],
            "acs_access_key": self.acs.config.access_key,
            "acs_resource_id": self.acs.config.resource_id,
            "acs_jwks_url": f"{self.urls['acs']}/calling/keys",
            "openai_api_key": OPENAI_KEY,
            "openai_base_url": f"{self.urls['realtime']}/v1",
            **chat_settings(self.urls["chat"], OPENAI_KEY),
            "azure_speech_key": SPEECH_KEY,
            "azure_speech_host": self.urls["speech"].replace("http://", "ws://"),
        }
        values.update(extra)
        return values


@contextlib.asynccontextmanager
async def offline_stack(
    *,
    acs: AcsEmulator | None = None,
    realtime: RealtimeEmulator | None = None,
    speech: SpeechEmulator | None = None,
    chat: ChatEmulator | None = None,
    webrtc: WebRtcEmulator | None = None,
    ports: dict[str, int] | None = None,
) -> AsyncIterator[OfflineStack]:
    """Serve the four emulators on loopback for the duration of the block."""
    ports = ports or {}
    stack = OfflineStack(
        acs=acs or AcsEmulator(),
        realtime=realtime or RealtimeEmulator(api_keys={OPENAI_KEY}),
        speech=speech or SpeechEmulator(keys=(SPEECH_KEY,)),
        chat=chat or ChatEmulator(keys=(OPENAI_KEY,)),
        webrtc=webrtc or WebRtcEmulator(api_keys={OPENAI_KEY}),
    )
    provider = ProviderRouter(stack.realtime.app, stack.webrtc.app)
    async with (
        stack.acs.serve(port=ports.get("acs", 0)) as acs_url,
        serve_app(provider, port=ports.get("realtime", 0)) as realtime_url,
        serve_app(stack.speech.app, port=ports.get("speech", 0)) as speech_url,
        serve_app(stack.chat.app, port=ports.get("chat", 0)) as chat_url,
    ):
        stack.urls = {"acs": acs_url, "realtime": realtime_url, "speech": speech_url, "chat": chat_url}
        yield stack


WEBRTC_PATHS = ("/realtime/client_secrets", "/realtime/calls", "/realtimeapi/sessions")


class ProviderRouter:
    """One OpenAI-style base URL, as the real provider has: ephemeral keys and WebRTC SDP go to the WebRTC
    emulator, and so does a socket that joins a WebRTC call (``?call_id=``, the server's sideband); everything else
    (the Realtime WebSocket of phone calls) to the Realtime emulator."""

    def __init__(self, realtime_app: Any, webrtc_app: Any) -> None:
        self.realtime_app = realtime_app
        self.webrtc_app = webrtc_app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        joins_call = b"call_id=" in scope.get("query_string", b"")
        app = self.webrtc_app if joins_call or any(marker in path for marker in WEBRTC_PATHS) else self.realtime_app
        await app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.realtime_app.startup()
                await self.webrtc_app.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.webrtc_app.shutdown()
                await self.realtime_app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
