"""A gateway with its Twilio line on loopback: the Twilio emulator calls it (signed webhooks, Media Streams) and
takes its REST calls through the official SDK; the Realtime emulator is the agent. Tests can also sign (or forge)
requests themselves with ``RequestValidator.compute_signature``."""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from gateway.app import create_app
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack
from gateway.emulators.twilio import DEFAULT_AUTH_TOKEN, TwilioCall, TwilioEmulator
from gateway.services import Gateway
from tests.conftest import make_settings

ACCOUNT_SID = "AC" + "5eed" * 8  # AC + 32 hex, as the gateway's setting requires
AUTH_TOKEN = DEFAULT_AUTH_TOKEN


def call_sid(n: int = 1) -> str:
    return f"CA{n:032x}"


@dataclass
class TwilioRig:
    stack: OfflineStack
    twilio: TwilioEmulator
    gw: Gateway
    url: str
    line: Any  # the gateway's Twilio line: live calls, memory of ended ones
    app: Any = None  # the Quart app (its blueprints: campaigns, console)

    @property
    def realtime(self) -> RealtimeEmulator:
        return self.stack.realtime

    @property
    def voice_url(self) -> str:
        return f"{self.url}/api/twilio/voice"

    @property
    def status_url(self) -> str:
        return f"{self.url}/api/twilio/status"

    async def call(self, script: Sequence[Any] = (), **options: Any) -> TwilioCall:
        """A caller dials the number; status callbacks for every event come to the gateway."""
        options.setdefault("status_callback", self.status_url)
        options.setdefault("status_callback_events", ("initiated", "ringing", "answered", "completed"))
        return await self.twilio.incoming_call(self.voice_url, script=script, **options)

    def sign(self, url: str, params: Any = None) -> str:
        return RequestValidator(AUTH_TOKEN).compute_signature(url, params or {})

    async def post(
        self, path: str, params: Sequence[tuple[str, str]], *, signature: str | None = None, signed: bool = True
    ) -> tuple[int, str]:
        """POST a form as Twilio does; signed over the URL and every (repeated) parameter unless told otherwise."""
        url = self.url + path
        headers = {}
        if signed:  # a MultiDict: the validator signs every value of a repeated key (its getlist path)
            headers["X-Twilio-Signature"] = signature if signature is not None else self.sign(url, MultiDict(params))
        async with aiohttp.ClientSession() as http, http.post(url, data=list(params), headers=headers) as response:
            return response.status, await response.text()

    async def incoming_call(self, sid: str, caller: str = "+819012345678") -> tuple[int, str]:
        """Only the Voice URL request (no call runs): for tests of the webhook itself."""
        params = [("CallSid", sid), ("AccountSid", ACCOUNT_SID), ("From", caller), ("To", "+81501234567"), ("CallStatus", "ringing"), ("Direction", "inbound")]
        return await self.post("/api/twilio/voice", params)

    async def status(self, sid: str, status: str, sequence: int) -> tuple[int, str]:
        params = [("CallSid", sid), ("AccountSid", ACCOUNT_SID), ("CallStatus", status), ("SequenceNumber", str(sequence))]
        return await self.post("/api/twilio/status", params)


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The ``<Stream url>`` of an answer and its ``<Parameter>`` values."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    return stream.attrib["url"], {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}


@contextlib.asynccontextmanager
async def twilio_rig(
    tmp_path: Path, script: Script, *, pacing: Pacing | None = None, twilio_config: dict[str, Any] | None = None, **settings: Any
) -> AsyncIterator[TwilioRig]:
    """``twilio_config``: more ``TwilioEmulatorConfig`` fields (e.g. ``status_callbacks=StatusCallbackDisorder(...)``)."""
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=pacing or Pacing(realtime_factor=2.0))
    twilio = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, **(twilio_config or {}))
    async with offline_stack(realtime=realtime) as stack, twilio.serve() as twilio_url:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        values = stack.settings(base)
        values.update(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_base=twilio_url, twilio_audio="pcm")
        values.update(settings)
        app = create_app(make_settings(tmp_path, **values))
        async with serve_app(app, port=port) as url:
            yield TwilioRig(stack, twilio, app.extensions["gateway"], url, app.blueprints["twilio"].twilio_calls, app)
