"""Minting the browser's ephemeral key, with the agent's session set server-side.

The browser only ever holds a short-lived key; the instructions, voice, tools and turn-taking it will run with
are fixed here, when the key is minted, so a page cannot rewrite the agent (tools it calls still run on the
gateway, through ``POST /api/tools/<name>``). GA (OpenAI and Azure ``/openai/v1``) goes through the SDK's
``client.realtime.client_secrets``; Azure's preview ``realtimeapi/sessions`` through the same client's ``post``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import openai
from pydantic import BaseModel, ValidationError

from gateway.engines.providers import RealtimeTarget
from gateway.engines.realtime_wire import session_config
from gateway.profiles import AgentProfile

logger = logging.getLogger(__name__)

Dialect = Literal["ga", "beta"]


class MintError(Exception):
    """The provider did not give us a key. ``message`` is safe to show to the page (no provider body, no key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class EphemeralKey:
    value: str
    expires_at: int
    webrtc_url: str
    model: str
    dialect: Dialect


class _PreviewSecret(BaseModel):
    value: str
    expires_at: int


class _PreviewSession(BaseModel):
    client_secret: _PreviewSecret


def webrtc_session(
    profile: AgentProfile,
    instructions: str,
    tools: list[dict[str, Any]],
    *,
    model: str,
    voice: str,
    transcription_model: str,
    beta: bool,
) -> dict[str, Any]:
    """The session a browser call runs on: the provider's VAD answers and interrupts (nobody sits in between)."""
    return session_config(
        profile, instructions, tools, voice=voice, transcription_model=transcription_model, beta=beta,
        model=model, provider_turns=True, pcm=False,
    )  # fmt: skip


def greeting_directive(profile: AgentProfile) -> str | None:
    """Only the directive travels to the browser; the instructions stay in the session set at mint time."""
    return profile.greeting_directive()


async def mint_key(target: RealtimeTarget, session: dict[str, Any], ttl_s: int) -> EphemeralKey:
    """Ask the provider for a key bound to ``session``. Raises ``MintError``."""
    try:
        if target.beta:
            return await _mint_preview(target, session)
        secret = await target.client.realtime.client_secrets.create(
            expires_after={"anchor": "created_at", "seconds": ttl_s},
            session=session,  # type: ignore[arg-type]
        )
    except openai.APIStatusError as exc:
        logger.warning("%s refused to mint an ephemeral key: HTTP %s", target.provider, exc.status_code)
        raise MintError(502, f"The AI provider refused to create a browser session (HTTP {exc.status_code}).") from None
    except openai.APIConnectionError as exc:
        logger.warning("%s unreachable while minting an ephemeral key: %s", target.provider, type(exc).__name__)
        raise MintError(502, "The AI provider could not be reached.") from None
    if not secret.value:
        raise MintError(502, "The AI provider returned no key.")
    return EphemeralKey(secret.value, int(secret.expires_at), f"{target.base_url}/realtime/calls", target.model, "ga")


async def _mint_preview(target: RealtimeTarget, session: dict[str, Any]) -> EphemeralKey:
    """Azure preview: the key lasts one minute whatever we ask. Its SDP goes to the resource's GA calls endpoint;
    the regional ``realtimeapi-preview`` host of the old docs is not derivable from our settings."""
    data = await target.client.post("/realtimeapi/sessions", body=session, cast_to=object)
    try:
        secret = _PreviewSession.model_validate(data).client_secret
    except ValidationError:
        raise MintError(502, "The AI provider's answer had no client secret.") from None
    return EphemeralKey(secret.value, secret.expires_at, f"{target.base_url}/v1/realtime/calls", target.model, "beta")
