"""Build the openai SDK clients for the configured provider (OpenAI or Azure OpenAI, GA or preview).

An ``http://`` endpoint (a local emulator) is dialled as ``ws://``: the SDK's Azure client would force ``wss://``.
"""

from __future__ import annotations

from dataclasses import dataclass

from openai import AsyncAzureOpenAI, AsyncOpenAI

from ..config import Settings

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"


def ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://") :]
    if http_url.startswith("http://"):
        return "ws://" + http_url[len("http://") :]
    return http_url


@dataclass(frozen=True, slots=True)
class RealtimeTarget:
    provider: str  # "openai" | "azure"
    client: AsyncOpenAI
    model: str
    beta: bool  # Azure preview (api-version) speaks the beta dialect
    base_url: str  # REST base for client secrets and WebRTC calls


def realtime_target(settings: Settings) -> RealtimeTarget | None:
    provider = settings.realtime_provider
    if provider == "azure":
        assert settings.azure_openai_endpoint and settings.azure_openai_api_key and settings.azure_openai_realtime_deployment
        key = settings.azure_openai_api_key.get_secret_value()
        endpoint = settings.azure_openai_endpoint
        deployment = settings.azure_openai_realtime_deployment
        if settings.azure_openai_api_version:
            client: AsyncOpenAI = AsyncAzureOpenAI(
                api_key=key,
                azure_endpoint=endpoint,
                api_version=settings.azure_openai_api_version,
                azure_deployment=deployment,
                websocket_base_url=ws_url(endpoint) + "/openai",
            )
            return RealtimeTarget("azure", client, deployment, True, endpoint + "/openai")
        base = endpoint + "/openai/v1"
        client = AsyncOpenAI(api_key=key, base_url=base, websocket_base_url=ws_url(base))
        return RealtimeTarget("azure", client, deployment, False, base)
    if provider == "openai":
        assert settings.openai_api_key
        base = settings.openai_base_url or OPENAI_DEFAULT_BASE
        client = AsyncOpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=base, websocket_base_url=ws_url(base))
        return RealtimeTarget("openai", client, settings.openai_realtime_model, False, base)
    return None


def chat_target(settings: Settings) -> tuple[AsyncOpenAI, str] | None:
    provider = settings.chat_provider
    if provider == "azure":
        assert settings.azure_openai_endpoint and settings.azure_openai_api_key and settings.azure_openai_chat_deployment
        key = settings.azure_openai_api_key.get_secret_value()
        if settings.azure_openai_api_version:
            client: AsyncOpenAI = AsyncAzureOpenAI(
                api_key=key, azure_endpoint=settings.azure_openai_endpoint, api_version=settings.azure_openai_api_version
            )
        else:
            client = AsyncOpenAI(api_key=key, base_url=settings.azure_openai_endpoint + "/openai/v1")
        return client, settings.azure_openai_chat_deployment
    if provider == "openai":
        assert settings.openai_api_key
        client = AsyncOpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url or OPENAI_DEFAULT_BASE)
        return client, settings.openai_chat_model
    return None
