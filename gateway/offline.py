"""Offline mode: with no AI provider configured, ``serve`` (and ``demo``) run the agent on the embedded emulators.

The first command a newcomer runs should show a talking agent, not a red banner: the emulated Realtime API, chat
completions and Azure Speech start on loopback and the gateway is wired to them through the real SDKs, exactly as
``voice-gateway demo`` does. Configuring any provider switches this off.

Phone: real callers never reach an emulated agent. The phone channel's call control is pointed at the loopback ACS
endpoint that ``voice-gateway simulate-call`` serves (``SIMULATOR_ACS_URL``, the emulator's published key), with
callbacks on loopback: an Event Grid delivery from a real ACS number can only fail to be answered. The Twilio line is
wired the same way: its REST API at the loopback Twilio emulator of ``simulate-call --carrier twilio``
(``SIMULATOR_TWILIO_URL``), with that emulator's published account SID and auth token, so only it can sign a Voice
URL request the gateway accepts. The console's demo line (``gateway/console/emulated.py``) is the other emulated
phone line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from .config import Settings

logger = logging.getLogger(__name__)

SIMULATOR_ACS_PORT = 8765  # where ``simulate-call`` serves its emulated ACS by default
SIMULATOR_ACS_URL = f"http://127.0.0.1:{SIMULATOR_ACS_PORT}"
SIMULATOR_TWILIO_PORT = 8766  # where ``simulate-call --carrier twilio`` serves its emulated Twilio REST API
SIMULATOR_TWILIO_URL = f"http://127.0.0.1:{SIMULATOR_TWILIO_PORT}"
OFFLINE_NOTICE = "OFFLINE DEMO: no AI provider is configured, so the agent runs on the built-in emulators (scripted replies, not a real AI)"
PROVIDER_VARIABLES = "OPENAI_API_KEY, or AZURE_OPENAI_ENDPOINT + AZURE_OPENAI_API_KEY + AZURE_OPENAI_REALTIME_DEPLOYMENT"
HOW_TO_LEAVE = f"set {PROVIDER_VARIABLES} to use a real model"


def wanted(settings: Settings) -> bool:
    """Offline mode applies when nothing the agent could talk with is configured."""
    return settings.realtime_provider is None and settings.chat_provider is None and not settings.speech_configured


def loopback_url(host: str, port: int) -> str:
    """The gateway's own base URL seen from this machine (emulators call back on loopback)."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def offline_values(stack: Any, public_base_url: str, settings: Settings | None = None) -> dict[str, Any]:
    """Settings values wiring a gateway to ``stack`` (an ``OfflineStack``), with the phone line on the simulator's
    loopback ACS endpoint (see the module docstring)."""
    from .emulators.acs.config import DEFAULT_ACCESS_KEY

    values = stack.settings(public_base_url)
    if settings is not None and settings.acs_configured:
        logger.warning("ACS is configured but no AI provider is: real phone calls are NOT answered in offline mode")
    if settings is not None and settings.twilio_configured:
        logger.warning("Twilio is configured but no AI provider is: real Twilio calls are NOT answered in offline mode")
    values.update(emulated_twilio_values())
    values.update(
        acs_connection_string=None,
        acs_endpoint=SIMULATOR_ACS_URL,
        acs_access_key=DEFAULT_ACCESS_KEY,
        acs_resource_id=None,
        event_grid_secret=None,
    )
    return values


def emulated_twilio_values() -> dict[str, Any]:
    """The Twilio line of an offline gateway: the simulator's emulated account, never a real one."""
    from .emulators.twilio.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_TWILIO_NUMBER

    return {
        "twilio_account_sid": DEFAULT_ACCOUNT_SID,
        "twilio_auth_token": DEFAULT_AUTH_TOKEN,
        "twilio_phone_number": DEFAULT_TWILIO_NUMBER,
        "twilio_api_base": SIMULATOR_TWILIO_URL,
    }


def demo_stack() -> contextlib.AbstractAsyncContextManager[Any]:
    """The emulators with the demo's scripted agent (answers that fit the shipped caller recordings)."""
    from .emulators.demo_script import phone_demo_script, webrtc_demo_script
    from .emulators.realtime import RealtimeEmulator
    from .emulators.stack import OPENAI_KEY, offline_stack
    from .emulators.webrtc import WebRtcEmulator

    return offline_stack(
        realtime=RealtimeEmulator(api_keys={OPENAI_KEY}, script=phone_demo_script()),
        webrtc=WebRtcEmulator(api_keys={OPENAI_KEY}, script=webrtc_demo_script()),
    )


@contextlib.asynccontextmanager
async def offline_settings(settings: Settings, public_base_url: str) -> AsyncIterator[tuple[Settings, Any]]:
    """Start the emulators and yield ``settings`` rewired to them, and the stack (for the console's demo calls)."""
    async with demo_stack() as stack:
        wired = Settings(**{**settings.model_dump(), **offline_values(stack, public_base_url, settings)})
        for line in (OFFLINE_NOTICE, HOW_TO_LEAVE, f"emulators: {', '.join(f'{k} {v}' for k, v in stack.urls.items())}"):
            logger.warning("%s", line)
        yield wired, stack

